#include "read/virtual_bands.h"

#include <algorithm>
#include <cmath>

#include "error.h"
#include "read/read_options.h"

namespace pgmosaic
{
namespace
{

std::string Trim(const std::string& s)
{
    const size_t a = s.find_first_not_of(" \t");
    if (a == std::string::npos)
        return "";
    return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

// Splits at commas outside parentheses.
std::vector<std::string> SplitTopLevel(const std::string& value)
{
    std::vector<std::string> out;
    int depth = 0;
    std::string cur;
    for (char c : value)
    {
        if (c == '(')
            ++depth;
        else if (c == ')')
            depth = std::max(0, depth - 1);
        if (c == ',' && depth == 0)
        {
            out.push_back(Trim(cur));
            cur.clear();
        }
        else
            cur += c;
    }
    out.push_back(Trim(cur));
    return out;
}

bool ValidName(const std::string& n)
{
    if (n.empty() || !(std::isalpha(static_cast<unsigned char>(n[0])) || n[0] == '_'))
        return false;
    return std::all_of(n.begin(), n.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
    });
}

std::string Lower(std::string s)
{
    for (auto& c : s)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

} // namespace

OutputBand ParseVirtualBand(const std::string& text, const MosaicInfo& mosaic)
{
    const size_t colon = text.find(':');
    OutputBand out;
    out.name = Trim(text.substr(0, colon));
    std::string rest = colon == std::string::npos ? "" : text.substr(colon + 1);
    if (!ValidName(out.name))
        throw Error(ErrorKind::InvalidParameter,
                    "invalid virtual band \"" + text +
                        "\": expected name:expression or name:type:expression, the name of "
                        "letters, digits and _");
    const size_t second = rest.find(':');
    if (second != std::string::npos)
    {
        const std::string type = Trim(rest.substr(0, second));
        out.type = GDALGetDataTypeByName(type.c_str());
        if (out.type == GDT_Unknown || GDALDataTypeIsComplex(out.type))
            throw Error(ErrorKind::InvalidParameter,
                        "invalid virtual band \"" + text + "\": unknown data type \"" + type +
                            "\" (Byte, Int16, UInt16, Int32, UInt32, Float32 or Float64)");
        rest = rest.substr(second + 1);
    }
    if (Trim(rest).empty())
        throw Error(ErrorKind::InvalidParameter,
                    "invalid virtual band \"" + text + "\": expected name:expression");
    out.expression = Expression::Parse(Trim(rest), BandNames(mosaic));
    if (out.expression->MaxBand() > mosaic.bandCount)
        throw Error(ErrorKind::InvalidParameter,
                    "invalid virtual band \"" + text + "\": it uses b" +
                        std::to_string(out.expression->MaxBand()) + " but mosaic \"" +
                        mosaic.name + "\" has " + std::to_string(mosaic.bandCount) + " bands");
    return out;
}

std::vector<OutputBand> ParseOutputBands(const std::string& value, const MosaicInfo& mosaic,
                                         const std::vector<std::string>& stored)
{
    std::vector<OutputBand> virtuals;
    for (const std::string& s : stored)
        virtuals.push_back(ParseVirtualBand(s, mosaic));
    std::vector<OutputBand> out;
    if (Trim(value).empty())
    {
        for (int b = 1; b <= mosaic.bandCount; ++b)
            out.push_back({b, BandName(mosaic, b), std::nullopt, mosaic.dataType});
        out.insert(out.end(), virtuals.begin(), virtuals.end());
        return out;
    }
    // Bands by number or name go through the band-list parser (its errors name the bands).
    std::vector<std::string> tokens = SplitTopLevel(value);
    for (const std::string& t : tokens)
    {
        const auto named = std::find_if(virtuals.begin(), virtuals.end(), [&](const OutputBand& v) {
            return Lower(v.name) == Lower(t);
        });
        if (t.find(':') != std::string::npos)
            out.push_back(ParseVirtualBand(t, mosaic));
        else if (named != virtuals.end() && BandOfToken(t, mosaic.bandCount, BandNames(mosaic)) == 0)
            out.push_back(*named);
        else
        {
            const int b = BandOfToken(t, mosaic.bandCount, BandNames(mosaic));
            if (b == 0 && value.find(':') == std::string::npos)
                ParseBandList(value, mosaic.bandCount, BandNames(mosaic)); // names the list
            if (b == 0)
                throw Error(ErrorKind::InvalidParameter,
                            "invalid bands \"" + value + "\": \"" + t +
                                "\" is neither a band number from 1 to " +
                                std::to_string(mosaic.bandCount) +
                                ", a band name nor name:expression");
            out.push_back({b, BandName(mosaic, b), std::nullopt, mosaic.dataType});
        }
    }
    for (size_t i = 0; i < out.size(); ++i)
        for (size_t j = 0; j < i; ++j)
            if ((out[i].band != 0 && out[i].band == out[j].band) ||
                (out[i].band == 0 && out[j].band == 0 && Lower(out[i].name) == Lower(out[j].name)))
                throw Error(ErrorKind::InvalidParameter,
                            "invalid bands \"" + value + "\": expected each band at most once");
    return out;
}

std::vector<int> InputBands(const std::vector<OutputBand>& outputs, const std::vector<int>& which)
{
    std::vector<int> in;
    auto add = [&](int b) {
        if (std::find(in.begin(), in.end(), b) == in.end())
            in.push_back(b);
    };
    for (int k : which)
    {
        const OutputBand& o = outputs[static_cast<size_t>(k)];
        if (o.band != 0)
            add(o.band);
        else
            for (int b : o.expression->Bands())
                add(b);
    }
    return in;
}

void ReadOutputBands(const std::vector<OutputBand>& outputs, const std::vector<int>& which,
                     int bufW, int bufH, const BufferSpec& buf, std::optional<double> nodata,
                     const std::function<void(const std::vector<int>&, const BufferSpec&)>& read)
{
    const std::vector<int> inputs = InputBands(outputs, which);
    const bool anyVirtual = std::any_of(which.begin(), which.end(), [&](int k) {
        return outputs[static_cast<size_t>(k)].band == 0;
    });
    if (!anyVirtual)
        return read(inputs, buf);
    const size_t pixels = static_cast<size_t>(bufW) * bufH;
    std::vector<double> in(pixels * std::max<size_t>(1, inputs.size()));
    if (!inputs.empty())
        read(inputs, {in.data(), GDT_Float64, sizeof(double),
                      static_cast<GSpacing>(sizeof(double)) * bufW,
                      static_cast<GSpacing>(sizeof(double) * pixels)});
    auto slot = [&](int band) {
        return static_cast<size_t>(std::find(inputs.begin(), inputs.end(), band) - inputs.begin());
    };
    std::vector<double> row(static_cast<size_t>(bufW));
    for (size_t k = 0; k < which.size(); ++k)
    {
        const OutputBand& o = outputs[static_cast<size_t>(which[k])];
        GByte* base = static_cast<GByte*>(buf.data) + k * buf.bandSpace;
        std::vector<const double*> bands(static_cast<size_t>(o.band ? 0 : o.expression->MaxBand()),
                                         nullptr);
        for (int y = 0; y < bufH; ++y)
        {
            const size_t off = static_cast<size_t>(y) * bufW;
            const double* values = nullptr;
            if (o.band != 0)
                values = in.data() + slot(o.band) * pixels + off;
            else
            {
                for (int b : o.expression->Bands())
                    bands[static_cast<size_t>(b - 1)] = in.data() + slot(b) * pixels + off;
                row = o.expression->Evaluate(bands, static_cast<size_t>(bufW));
                // No value where an input has none.
                if (nodata)
                    for (int b : o.expression->Bands())
                    {
                        const double* v = bands[static_cast<size_t>(b - 1)];
                        for (int x = 0; x < bufW; ++x)
                            if (v[x] == *nodata || (std::isnan(v[x]) && std::isnan(*nodata)))
                                row[static_cast<size_t>(x)] = *nodata;
                    }
                values = row.data();
            }
            GDALCopyWords64(values, GDT_Float64, sizeof(double), base + y * buf.lineSpace,
                            buf.type, static_cast<int>(buf.pixelSpace), bufW);
        }
    }
}

} // namespace pgmosaic
