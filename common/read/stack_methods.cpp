#include "read/stack_methods.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "parallel.h"

namespace pgmosaic
{
namespace
{

// The items crossing each row of the buffer, in the items' order.
std::vector<std::vector<size_t>> ItemsByRow(const std::vector<ItemPixels>& items, int bufH)
{
    std::vector<std::vector<size_t>> rows(static_cast<size_t>(bufH));
    for (size_t i = 0; i < items.size(); ++i)
        for (int y = std::max(0, items[i].dst.y);
             y < std::min(bufH, items[i].dst.y + items[i].dst.h); ++y)
            rows[static_cast<size_t>(y)].push_back(i);
    return rows;
}

// Rows in blocks, on several threads.
template <typename Fn>
void ForRowBlocks(int bufH, int threads, const Cancel& cancel, const char* what, Fn&& fn)
{
    constexpr int kRows = 16;
    const size_t blocks = static_cast<size_t>((bufH + kRows - 1) / kRows);
    ParallelFor(blocks, threads, [&](size_t block, int thread) {
        cancel.Check(what);
        const int y0 = static_cast<int>(block) * kRows;
        fn(y0, std::min(bufH, y0 + kRows), thread);
    });
}

// `n` values of `type` at `src` as doubles into `dst`.
void ToDoubles(GDALDataType type, const GByte* src, size_t n, double* dst)
{
    if (type == GDT_Float64)
        memcpy(dst, src, n * sizeof(double));
    else
        GDALCopyWords64(src, type, GDALGetDataTypeSizeBytes(type), dst, GDT_Float64,
                        sizeof(double), static_cast<GPtrDiff_t>(n));
}

void WriteRow(const double* row, int bufW, size_t band, int y, const BufferSpec& buf)
{
    GDALCopyWords64(row, GDT_Float64, sizeof(double),
                    static_cast<GByte*>(buf.data) + band * buf.bandSpace + y * buf.lineSpace,
                    buf.type, static_cast<int>(buf.pixelSpace), bufW);
}

// The statistic of n values (sorted in place when needed).
double Statistic(Method method, double percentile, double* v, size_t n)
{
    if (method == Method::Stdev)
    {
        double mean = 0;
        for (size_t i = 0; i < n; ++i)
            mean += v[i];
        mean /= static_cast<double>(n);
        double ss = 0;
        for (size_t i = 0; i < n; ++i)
            ss += (v[i] - mean) * (v[i] - mean);
        return std::sqrt(ss / static_cast<double>(n));
    }
    // Insertion sort: stacks are short (a few dozen dates).
    for (size_t i = 1; i < n; ++i)
    {
        const double x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1] > x; --j)
            v[j] = v[j - 1];
        v[j] = x;
    }
    const double p = method == Method::Median ? 50 : percentile;
    const double rank = p / 100 * static_cast<double>(n - 1);
    const size_t lo = static_cast<size_t>(std::floor(rank));
    const size_t hi = std::min(n - 1, lo + 1);
    const double frac = rank - static_cast<double>(lo);
    return frac == 0 ? v[lo] : v[lo] + (v[hi] - v[lo]) * frac;
}

} // namespace

void ComposeStack(Method method, double percentile, const std::vector<ItemPixels>& items,
                  int bufW, int bufH, size_t bands, double fill, const BufferSpec& buf,
                  int threads, const Cancel& cancel)
{
    const auto byRow = ItemsByRow(items, bufH);
    size_t depth = 1;
    for (const auto& r : byRow)
        depth = std::max(depth, r.size());
    const int n = std::max(1, threads);
    // Per thread: the values under each pixel of a row (depth per pixel), their counts, a row.
    std::vector<std::vector<double>> stacks(static_cast<size_t>(n),
                                            std::vector<double>(static_cast<size_t>(bufW) * depth));
    std::vector<std::vector<int>> counts(static_cast<size_t>(n),
                                         std::vector<int>(static_cast<size_t>(bufW)));
    std::vector<std::vector<double>> rows(static_cast<size_t>(n),
                                          std::vector<double>(static_cast<size_t>(bufW)));
    std::vector<std::vector<double>> inputs(static_cast<size_t>(n),
                                            std::vector<double>(static_cast<size_t>(bufW)));
    ForRowBlocks(bufH, n, cancel, "composing", [&](int y0, int y1, int thread) {
        std::vector<double>& stack = stacks[static_cast<size_t>(thread)];
        std::vector<int>& count = counts[static_cast<size_t>(thread)];
        std::vector<double>& row = rows[static_cast<size_t>(thread)];
        double* v = inputs[static_cast<size_t>(thread)].data();
        for (int y = y0; y < y1; ++y)
            for (size_t b = 0; b < bands; ++b)
            {
                std::fill(count.begin(), count.end(), 0);
                for (size_t i : byRow[static_cast<size_t>(y)])
                {
                    const ItemPixels& it = items[i];
                    const size_t pixels = static_cast<size_t>(it.dst.w) * it.dst.h;
                    const size_t off = b * pixels + static_cast<size_t>(y - it.dst.y) * it.dst.w;
                    const GByte* src = it.values + off * GDALGetDataTypeSizeBytes(it.type);
                    const GByte* ok = it.valid ? it.valid + off : nullptr;
                    double* s0 = stack.data() + static_cast<size_t>(it.dst.x) * depth;
                    int* c0 = count.data() + it.dst.x;
                    // NaN is no value (numpy's nanmedian): among the values, it left the
                    // insertion sort's order undefined and the statistic to the items' order.
                    auto gather = [&](const auto* values) {
                        for (int x = 0; x < it.dst.w; ++x)
                            if ((!ok || ok[x]) && !std::isnan(static_cast<double>(values[x])))
                                s0[static_cast<size_t>(x) * depth + static_cast<size_t>(c0[x]++)] =
                                    static_cast<double>(values[x]);
                    };
                    // The common types straight from the items' pixels, others through doubles.
                    switch (it.type)
                    {
                    case GDT_Byte:
                        gather(src);
                        break;
                    case GDT_UInt16:
                        gather(reinterpret_cast<const GUInt16*>(src));
                        break;
                    case GDT_Int16:
                        gather(reinterpret_cast<const GInt16*>(src));
                        break;
                    case GDT_Float32:
                        gather(reinterpret_cast<const float*>(src));
                        break;
                    case GDT_Float64:
                        gather(reinterpret_cast<const double*>(src));
                        break;
                    default:
                        ToDoubles(it.type, src, static_cast<size_t>(it.dst.w), v);
                        gather(static_cast<const double*>(v));
                    }
                }
                for (int x = 0; x < bufW; ++x)
                    row[static_cast<size_t>(x)] =
                        count[static_cast<size_t>(x)] == 0
                            ? fill
                            : Statistic(method, percentile,
                                        stack.data() + static_cast<size_t>(x) * depth,
                                        static_cast<size_t>(count[static_cast<size_t>(x)]));
                WriteRow(row.data(), bufW, b, y, buf);
            }
    });
}

void ComposeQuality(const Expression& score, const std::vector<int>& slotOfBand,
                    const std::vector<ItemPixels>& items, int bufW, int bufH, size_t bands,
                    double fill, const BufferSpec& buf, int threads, const Cancel& cancel)
{
    const auto byRow = ItemsByRow(items, bufH);
    const std::vector<int>& used = score.Bands();
    const int n = std::max(1, threads);
    std::vector<std::vector<double>> bests(static_cast<size_t>(n),
                                           std::vector<double>(static_cast<size_t>(bufW)));
    std::vector<std::vector<int>> winners(static_cast<size_t>(n),
                                          std::vector<int>(static_cast<size_t>(bufW)));
    std::vector<std::vector<double>> outs(static_cast<size_t>(n),
                                          std::vector<double>(static_cast<size_t>(bufW)));
    // Per thread: the row of each band the score uses of the item at hand, as doubles.
    std::vector<std::vector<double>> rowsOf(
        static_cast<size_t>(n), std::vector<double>(static_cast<size_t>(bufW) * used.size()));
    ForRowBlocks(bufH, n, cancel, "composing", [&](int y0, int y1, int thread) {
        std::vector<double>& best = bests[static_cast<size_t>(thread)];
        std::vector<int>& winner = winners[static_cast<size_t>(thread)];
        std::vector<double>& out = outs[static_cast<size_t>(thread)];
        double* rowValues = rowsOf[static_cast<size_t>(thread)].data();
        std::vector<const double*> inputs(static_cast<size_t>(score.MaxBand()), nullptr);
        for (int y = y0; y < y1; ++y)
        {
            // First the winner of each pixel: the score of every item crossing the row...
            std::fill(best.begin(), best.end(), -std::numeric_limits<double>::infinity());
            std::fill(winner.begin(), winner.end(), -1);
            for (size_t i : byRow[static_cast<size_t>(y)])
            {
                const ItemPixels& it = items[i];
                const size_t pixels = static_cast<size_t>(it.dst.w) * it.dst.h;
                const size_t rowOff = static_cast<size_t>(y - it.dst.y) * it.dst.w;
                const size_t size = static_cast<size_t>(GDALGetDataTypeSizeBytes(it.type));
                for (size_t k = 0; k < used.size(); ++k)
                {
                    const size_t slot =
                        static_cast<size_t>(slotOfBand[static_cast<size_t>(used[k] - 1)]);
                    double* row = rowValues + k * bufW;
                    ToDoubles(it.type, it.values + (slot * pixels + rowOff) * size,
                              static_cast<size_t>(it.dst.w), row);
                    inputs[static_cast<size_t>(used[k] - 1)] = row;
                }
                const std::vector<double> s =
                    score.Evaluate(inputs, static_cast<size_t>(it.dst.w), it.itemValues);
                for (int x = 0; x < it.dst.w; ++x)
                {
                    const size_t o = static_cast<size_t>(it.dst.x + x);
                    if (!(s[static_cast<size_t>(x)] > best[o]))
                        continue; // NaN never wins; ties keep the item above
                    if (it.valid)
                    {
                        bool candidate = true, any = false;
                        for (int b : used)
                            candidate =
                                candidate &&
                                it.valid[static_cast<size_t>(slotOfBand[static_cast<size_t>(b - 1)]) *
                                             pixels +
                                         rowOff + x];
                        for (size_t b = 0; b < bands && !any; ++b)
                            any = it.valid[b * pixels + rowOff + x] != 0;
                        if (!candidate || (used.empty() && !any))
                            continue;
                    }
                    best[o] = s[static_cast<size_t>(x)];
                    winner[o] = static_cast<int>(i);
                }
            }
            // ...then every band from the winners (the fill value where a winner has none).
            for (size_t b = 0; b < bands; ++b)
            {
                std::fill(out.begin(), out.end(), fill);
                for (size_t i : byRow[static_cast<size_t>(y)])
                {
                    const ItemPixels& it = items[i];
                    const size_t pixels = static_cast<size_t>(it.dst.w) * it.dst.h;
                    const size_t off = b * pixels + static_cast<size_t>(y - it.dst.y) * it.dst.w;
                    const GByte* ok = it.valid ? it.valid + off : nullptr;
                    const GByte* src = it.values + off * GDALGetDataTypeSizeBytes(it.type);
                    const int* w0 = winner.data() + it.dst.x;
                    double* o0 = out.data() + it.dst.x;
                    auto take = [&](const auto* values) {
                        for (int x = 0; x < it.dst.w; ++x)
                            if (w0[x] == static_cast<int>(i) && (!ok || ok[x]))
                                o0[x] = static_cast<double>(values[x]);
                    };
                    switch (it.type)
                    {
                    case GDT_Byte:
                        take(src);
                        break;
                    case GDT_UInt16:
                        take(reinterpret_cast<const GUInt16*>(src));
                        break;
                    case GDT_Int16:
                        take(reinterpret_cast<const GInt16*>(src));
                        break;
                    case GDT_Float32:
                        take(reinterpret_cast<const float*>(src));
                        break;
                    case GDT_Float64:
                        take(reinterpret_cast<const double*>(src));
                        break;
                    default:
                    {
                        std::vector<double> row(static_cast<size_t>(it.dst.w));
                        ToDoubles(it.type, src, row.size(), row.data());
                        take(static_cast<const double*>(row.data()));
                    }
                    }
                }
                WriteRow(out.data(), bufW, b, y, buf);
            }
        }
    });
}

} // namespace pgmosaic
