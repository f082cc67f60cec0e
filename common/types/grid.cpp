#include "types/grid.h"

#include <algorithm>
#include <climits>
#include <cmath>

namespace pgmosaic
{
namespace
{

// Coordinates this close to a whole number are taken as whole: grids stored as doubles carry
// rounding noise, and an aligned source must not pick up a spurious half-pixel shift.
constexpr double kSnap = 1e-6;

double Snap(double v)
{
    double r = std::round(v);
    return std::fabs(v - r) < kSnap ? r : v;
}

struct Axis
{
    int dst0 = 0, dst1 = 0;    // buffer pixels [dst0, dst1)
    double src0 = 0, src1 = 0; // source pixels [src0, src1) sampled into them
    int req0 = 0, reqN = 0;    // the whole-pixel window GDAL is asked for
};

double IntIfClose(double v)
{
    const double r = std::round(v);
    return std::fabs(v - r) < 1e-10 ? r : v;
}

// One axis of PlaceSource, as a VRT simple source of GDAL computes it (the source window it
// reads and the part of the buffer it fills), so that the nearest pixel each buffer pixel
// gets is the one a gdalbuildvrt VRT of the same files gives it. The request covers grid
// pixels [off, off + size) into `buf` pixels; the source's `n` pixels cover grid pixels
// [dOff, dOff + dSize).
std::optional<Axis> PlaceAxis(double off, double size, int buf, double dOff, double dSize, int n)
{
    if (!(n > 0 && dSize > 0 && size > 0 && buf > 0) || off >= dOff + dSize ||
        off + size <= dOff)
        return std::nullopt;
    // The part of the request over the source, in grid pixels, then in source pixels.
    bool clipped = false;
    double rOff = off, rSize = size;
    if (rOff < dOff)
    {
        rSize = rSize + rOff - dOff;
        rOff = dOff;
        clipped = true;
    }
    if (rOff + rSize > dOff + dSize)
    {
        rSize = dOff + dSize - rOff;
        clipped = true;
    }
    const double toSrc = n / dSize;
    double req0 = (rOff - dOff) * toSrc;
    double reqSize = rSize * toSrc;
    if (!std::isfinite(req0) || !std::isfinite(reqSize) || req0 > INT_MAX || reqSize < 0)
        return std::nullopt;
    if (req0 < 0)
    {
        reqSize += req0;
        req0 = 0;
        clipped = true;
    }
    Axis a;
    a.req0 = static_cast<int>(std::floor(req0));
    if (req0 - a.req0 > 1.0 - 1e-3) // a hair below a whole pixel starts on it
    {
        ++a.req0;
        req0 = a.req0;
    }
    a.reqN = reqSize > INT_MAX ? INT_MAX : static_cast<int>(std::floor(reqSize + 0.5));
    a.reqN = std::max(a.reqN, 1);
    if (a.reqN > INT_MAX - a.req0 || a.req0 + a.reqN > n)
    {
        a.reqN = n - a.req0;
        clipped = true;
    }
    if (req0 + reqSize > n)
    {
        reqSize = n - req0;
        clipped = true;
    }
    if (a.req0 >= n || a.reqN <= 0)
        return std::nullopt;
    a.dst0 = 0;
    a.dst1 = buf;
    if (clipped)
    {
        // Back into buffer pixels: the buffer pixels the source fills, and the source
        // window widened to their edges.
        const double toBuf = buf / size;
        auto toGrid = [&](double s) { return s / n * dSize + dOff; };
        const double left = (toGrid(req0) - off) * toBuf;
        double right = (toGrid(req0 + reqSize) - off) * toBuf;
        a.dst0 = left <= 0 ? 0 : left > INT_MAX ? INT_MAX : static_cast<int>(left + 1e-3);
        const double shift = (left - a.dst0) / toBuf / dSize * n;
        req0 -= shift;
        reqSize = std::min(reqSize + shift, static_cast<double>(INT_MAX));
        if (right < left)
            return std::nullopt;
        right = std::min(right, static_cast<double>(INT_MAX));
        const int rightPixel = static_cast<int>(std::ceil(right - 1e-3));
        a.dst1 = std::min(rightPixel, buf);
        reqSize = std::min(reqSize + (rightPixel - right) / toBuf / dSize * n,
                           static_cast<double>(INT_MAX));
        if (a.dst1 - a.dst0 < 1)
            return std::nullopt;
    }
    a.src0 = IntIfClose(req0);
    a.src1 = a.src0 + IntIfClose(reqSize);
    return a;
}

} // namespace

Window Placement::SrcWindowEnclosing() const
{
    Window w;
    w.x = static_cast<int>(std::floor(srcX));
    w.y = static_cast<int>(std::floor(srcY));
    w.w = static_cast<int>(std::ceil(srcX + srcW)) - w.x;
    w.h = static_cast<int>(std::ceil(srcY + srcH)) - w.y;
    return w;
}

Placement Placement::Part(const Window& part) const
{
    Placement p = *this;
    p.dst = part;
    p.srcX += part.x - dst.x;
    p.srcY += part.y - dst.y;
    p.srcW = part.w;
    p.srcH = part.h;
    p.req = {static_cast<int>(p.srcX), static_cast<int>(p.srcY), part.w, part.h};
    return p;
}

void SplitByCover(const Window& rect, const std::vector<Window>& others,
                  std::vector<Window>& uncovered, std::vector<Window>& covered)
{
    const int x1 = rect.x + rect.w, y1 = rect.y + rect.h;
    struct Box
    {
        int x0, y0, x1, y1;
    };
    std::vector<Box> clipped; // the others' parts inside rect
    std::vector<int> ys{rect.y, y1};
    for (const Window& o : others)
    {
        const int cx0 = std::max(rect.x, o.x), cy0 = std::max(rect.y, o.y);
        const int cx1 = std::min(x1, o.x + o.w), cy1 = std::min(y1, o.y + o.h);
        if (cx0 >= cx1 || cy0 >= cy1)
            continue;
        clipped.push_back({cx0, cy0, cx1, cy1});
        ys.push_back(cy0);
        ys.push_back(cy1);
    }
    std::sort(ys.begin(), ys.end());
    ys.erase(std::unique(ys.begin(), ys.end()), ys.end());

    struct Open // a rectangle still growing downwards
    {
        int x0, x1, y0;
        bool covered;
    };
    std::vector<Open> open, next;
    auto close = [&](const Open& o, int yEnd) {
        (o.covered ? covered : uncovered).push_back({o.x0, o.y0, o.x1 - o.x0, yEnd - o.y0});
    };
    std::vector<std::pair<int, int>> spans;
    for (size_t b = 0; b + 1 < ys.size(); ++b)
    {
        const int ya = ys[b], yb = ys[b + 1];
        // The columns the others cover across this band (each spans it whole or misses it).
        spans.clear();
        for (const Box& c : clipped)
            if (c.y0 <= ya && c.y1 >= yb)
                spans.emplace_back(c.x0, c.x1);
        std::sort(spans.begin(), spans.end());
        next.clear();
        auto add = [&](int xa, int xb, bool isCovered) {
            if (xa >= xb)
                return;
            auto it = std::find_if(open.begin(), open.end(), [&](const Open& o) {
                return o.x0 == xa && o.x1 == xb && o.covered == isCovered;
            });
            if (it != open.end())
            {
                next.push_back(*it);
                it->x0 = it->x1; // taken
            }
            else
                next.push_back({xa, xb, ya, isCovered});
        };
        int x = rect.x;
        for (size_t i = 0; i < spans.size();)
        {
            const int start = std::max(x, spans[i].first);
            int end = spans[i].second;
            for (++i; i < spans.size() && spans[i].first <= end; ++i)
                end = std::max(end, spans[i].second);
            add(x, start, false);
            add(start, end, true);
            x = std::max(x, end);
        }
        add(x, x1, false);
        for (const Open& o : open)
            if (o.x0 < o.x1)
                close(o, ya);
        std::swap(open, next);
    }
    for (const Open& o : open)
        close(o, y1);
}

std::vector<int> NearestSourcePixels(double off, double size, int buf, int rasterSize, int first,
                                     int count, bool stepped)
{
    std::vector<int> out(static_cast<size_t>(std::max(0, buf)));
    const double inc = size / buf, eps = 1e-10;
    const double last = static_cast<double>(rasterSize - 1);
    double stepping = 0.5 * inc + off + eps;
    for (int i = 0; i < buf; ++i, stepping += inc)
    {
        const double v = stepped ? stepping : (i + 0.5) * inc + off + eps;
        const int pixel = static_cast<int>(std::min(std::max(0.0, v), last));
        out[static_cast<size_t>(i)] = std::min(std::max(pixel - first, 0), count - 1);
    }
    return out;
}

Envelope RequestEnvelope(const GeoTransform& m, const Window& win)
{
    const double x0 = m[0] + win.x * m[1];
    const double x1 = m[0] + (win.x + win.w) * m[1];
    const double y0 = m[3] + win.y * m[5];
    const double y1 = m[3] + (win.y + win.h) * m[5];
    return {std::min(x0, x1), std::min(y0, y1), std::max(x0, x1), std::max(y0, y1)};
}

std::optional<Placement> PlaceSource(const GeoTransform& m, const Request& req,
                                     const GeoTransform& src, int srcW, int srcH)
{
    // The source's extent in grid pixels (whole numbers for a source on the grid).
    const double x0 = Snap((src[0] - m[0]) / m[1]), y0 = Snap((src[3] - m[3]) / m[5]);
    const double xs = Snap(srcW * src[1] / m[1]), ys = Snap(srcH * src[5] / m[5]);
    auto ax = PlaceAxis(req.win.x, req.win.w, req.bufW, x0, xs, srcW);
    if (!ax)
        return std::nullopt;
    auto ay = PlaceAxis(req.win.y, req.win.h, req.bufH, y0, ys, srcH);
    if (!ay)
        return std::nullopt;
    Placement p;
    p.dst = {ax->dst0, ay->dst0, ax->dst1 - ax->dst0, ay->dst1 - ay->dst0};
    p.srcX = ax->src0;
    p.srcY = ay->src0;
    p.srcW = ax->src1 - ax->src0;
    p.srcH = ay->src1 - ay->src0;
    p.req = {ax->req0, ay->req0, ax->reqN, ay->reqN};
    p.integral = p.srcX == std::floor(p.srcX) && p.srcY == std::floor(p.srcY) &&
                 p.srcW == p.dst.w && p.srcH == p.dst.h;
    return p;
}

} // namespace pgmosaic
