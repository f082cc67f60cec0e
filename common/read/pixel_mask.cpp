#include "read/pixel_mask.h"

#include <algorithm>
#include <cmath>

#include "error.h"

namespace pgmosaic
{

std::optional<Expression> ParseMask(const MosaicInfo& mosaic, const std::string& option)
{
    const std::string text = option.empty() ? mosaic.mask : option;
    if (text.empty() || text == "none")
        return std::nullopt;
    Expression e = Expression::Parse(text, BandNames(mosaic));
    if (e.MaxBand() > mosaic.bandCount)
        throw Error(ErrorKind::InvalidParameter,
                    "invalid mask \"" + text + "\": it uses b" + std::to_string(e.MaxBand()) +
                        " but mosaic \"" + mosaic.name + "\" has " +
                        std::to_string(mosaic.bandCount) + " bands");
    return e;
}

void ApplyMask(const Expression& mask, const std::vector<int>& slotOfBand, GDALDataType type,
               const GByte* data, GByte* valid, size_t slots, size_t pixels)
{
    constexpr size_t kChunk = 4096;
    const int typeSize = GDALGetDataTypeSizeBytes(type);
    const std::vector<int>& used = mask.Bands();
    std::vector<std::vector<double>> values(used.size(), std::vector<double>(kChunk));
    std::vector<const double*> bands(static_cast<size_t>(mask.MaxBand()), nullptr);
    for (size_t start = 0; start < pixels; start += kChunk)
    {
        const size_t n = std::min(kChunk, pixels - start);
        for (size_t k = 0; k < used.size(); ++k)
        {
            const int slot = slotOfBand[static_cast<size_t>(used[k] - 1)];
            GDALCopyWords64(data + (static_cast<size_t>(slot) * pixels + start) * typeSize, type,
                            typeSize, values[k].data(), GDT_Float64, sizeof(double),
                            static_cast<GPtrDiff_t>(n));
            bands[static_cast<size_t>(used[k] - 1)] = values[k].data();
        }
        const std::vector<double> hit = mask.Evaluate(bands, n);
        for (size_t i = 0; i < n; ++i)
        {
            if (hit[i] == 0 || std::isnan(hit[i]))
                continue;
            const size_t p = start + i;
            bool known = true;
            for (int b : used)
                known = known &&
                        valid[static_cast<size_t>(slotOfBand[static_cast<size_t>(b - 1)]) *
                                  pixels +
                              p] != 0;
            if (!known)
                continue;
            for (size_t s = 0; s < slots; ++s)
                valid[s * pixels + p] = 0;
        }
    }
}

} // namespace pgmosaic
