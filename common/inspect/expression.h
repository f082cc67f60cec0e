// A small, safe expression language over raster bands, for thematic rules:
//   (b2 - b4) / (b2 + b4) > 0.1        b1 > 200 and b2 > 200        not (b3 <= 10)
// Numbers, band references b1..bn, + - * / (also the signs × and ÷), comparisons
// (< <= > >= = == != <>), and, or, not, parentheses. No names, calls or side effects.
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
    static Expression Parse(const std::string& text);

    // The highest band number referenced (so a caller can check it against the raster).
    int MaxBand() const { return m_nMaxBand; }
    const std::string& Text() const { return m_osText; }

    // Evaluates over `n` pixels; bands[b - 1] points at n values of band b. Comparisons and
    // logic give 1 or 0; arithmetic with NaN (e.g. 0/0) makes comparisons false.
    std::vector<double> Evaluate(const std::vector<const double*>& bands, size_t n) const;

    struct Node;

private:
    std::shared_ptr<const Node> m_poRoot;
    int m_nMaxBand = 0;
    std::string m_osText;
};

} // namespace pgmosaic
