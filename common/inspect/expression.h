// A small, safe expression language over raster bands, for thematic rules, masks, quality
// mosaics and virtual bands:
//   (b2 - b4) / (b2 + b4) > 0.1        b1 > 200 and b2 > 200        not (b3 <= 10)
//   (nir - red) / (nir + red)          qa & 26 != 0        bit(qa, 3)        scl in (3, 8, 9, 10)
// Numbers, band references b1..bn or by the names a caller gives, + - * / (also the signs ×
// and ÷), & and | (bitwise, on the integer parts), comparisons (< <= > >= = == != <>),
// "in (list)", and, or, not, bit(x, n) (bit n of x: 0 or 1), parentheses, and named values a
// caller gives (constant over the pixels, e.g. an item's cloud cover). No other calls, no side
// effects.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace pgmosaic
{

class Expression final
{
public:
    // Parses `text`; throws Error(InvalidParameter) naming the position of a syntax error.
    // `bandNames[k]` names band k + 1 (case-insensitive; a name wins over the b<n> form);
    // `variables` are the named values Evaluate takes.
    static Expression Parse(const std::string& text,
                            const std::vector<std::string>& bandNames = {},
                            const std::vector<std::string>& variables = {});

    // The highest band number referenced (so a caller can check it against the raster).
    int MaxBand() const { return m_nMaxBand; }
    const std::string& Text() const { return m_osText; }

    // Whether it uses the named value variables[k] of Parse.
    bool UsesVariable(size_t k) const
    {
        return k < m_abUsedVariables.size() && m_abUsedVariables[k];
    }
    // The bands it uses (1-based, ascending).
    const std::vector<int>& Bands() const { return m_anBands; }

    // Evaluates over `n` pixels; bands[b - 1] points at n values of band b (may be null for
    // a band it does not use), variables[k] is the named value k. Comparisons and logic give
    // 1 or 0; arithmetic with NaN (e.g. 0/0) makes comparisons false.
    std::vector<double> Evaluate(const std::vector<const double*>& bands, size_t n,
                                 const std::vector<double>& variables = {}) const;

    struct Node;

private:
    std::shared_ptr<const Node> m_poRoot;
    int m_nMaxBand = 0;
    std::string m_osText;
    std::vector<int> m_anBands{};
    std::vector<bool> m_abUsedVariables{};
};

} // namespace pgmosaic
