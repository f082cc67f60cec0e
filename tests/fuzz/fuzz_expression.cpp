// Band expressions: Expression::Parse either refuses the text with pgmosaic::Error or gives an
// expression that evaluates over any pixels of its bands without failing, one value per pixel;
// logic gives only 0 and 1 (the expression wrapped in "not not (...)", when that parses).
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "error.h"
#include "inspect/expression.h"
#include "fuzz_check.h"

using namespace pgmosaic;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    const std::string text(reinterpret_cast<const char*>(data), size);
    Expression e;
    try
    {
        e = Expression::Parse(text);
    }
    catch (const Error&)
    {
        return 0;
    }
    FUZZ_CHECK(e.Text() == text);
    FUZZ_CHECK(e.MaxBand() >= 0 && e.MaxBand() <= 65535);
    // Pixels with ordinary, extreme and special values.
    static const double kValues[] = {0,    1,   -1,  2.5, 1e308, -1e308,
                                     std::numeric_limits<double>::quiet_NaN(),
                                     std::numeric_limits<double>::infinity(), 255, 0.1};
    constexpr std::size_t n = sizeof(kValues) / sizeof(kValues[0]);
    std::vector<std::vector<double>> bands(static_cast<std::size_t>(e.MaxBand()));
    std::vector<const double*> ptrs;
    for (std::size_t b = 0; b < bands.size(); ++b)
    {
        bands[b].resize(n);
        for (std::size_t i = 0; i < n; ++i)
            bands[b][i] = kValues[(i + b) % n];
        ptrs.push_back(bands[b].data());
    }
    const std::vector<double> out = e.Evaluate(ptrs, n);
    FUZZ_CHECK(out.size() == n);
    FUZZ_CHECK(e.Evaluate(ptrs, 0).empty());
    try
    {
        const Expression logic = Expression::Parse("not not (" + text + ")");
        for (double v : logic.Evaluate(ptrs, n))
            FUZZ_CHECK(v == 0 || v == 1);
    }
    catch (const Error&)
    {
    }
    if (e.MaxBand() > 0)
    {
        bool threw = false;
        try
        {
            ptrs.pop_back();
            e.Evaluate(ptrs, n);
        }
        catch (const Error&)
        {
            threw = true;
        }
        FUZZ_CHECK(threw);
    }
    return 0;
}
