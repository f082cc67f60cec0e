#include "grid.h"

#include <algorithm>
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
    double src0 = 0, src1 = 0; // source pixels [src0, src1)
};

// One axis of PlaceSource. reqOrigin/bufPixel: world coordinate of the buffer's first edge and
// the world size of one buffer pixel (signed); srcOrigin/srcPixel likewise for the source.
std::optional<Axis> PlaceAxis(double reqOrigin, double bufPixel, int bufSize, double srcOrigin,
                              double srcPixel, int srcSize)
{
    // The source's extent in buffer pixel coordinates.
    const double b0 = Snap((srcOrigin - reqOrigin) / bufPixel);
    const double b1 = Snap((srcOrigin + srcSize * srcPixel - reqOrigin) / bufPixel);
    // Buffer pixels whose centre falls inside the source.
    Axis a;
    a.dst0 = std::max(0, static_cast<int>(std::ceil(b0 - 0.5)));
    a.dst1 = std::min(bufSize, static_cast<int>(std::ceil(b1 - 0.5)));
    if (a.dst1 <= a.dst0)
        return std::nullopt;
    auto toSrc = [&](double d) {
        return Snap((reqOrigin + d * bufPixel - srcOrigin) / srcPixel);
    };
    a.src0 = std::max(0.0, toSrc(a.dst0));
    a.src1 = std::min(static_cast<double>(srcSize), toSrc(a.dst1));
    if (a.src1 <= a.src0)
        return std::nullopt;
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
    const double bufPixelX = req.win.w * m[1] / req.bufW;
    const double bufPixelY = req.win.h * m[5] / req.bufH;
    auto ax = PlaceAxis(m[0] + req.win.x * m[1], bufPixelX, req.bufW, src[0], src[1], srcW);
    if (!ax)
        return std::nullopt;
    auto ay = PlaceAxis(m[3] + req.win.y * m[5], bufPixelY, req.bufH, src[3], src[5], srcH);
    if (!ay)
        return std::nullopt;
    Placement p;
    p.dst = {ax->dst0, ay->dst0, ax->dst1 - ax->dst0, ay->dst1 - ay->dst0};
    p.srcX = ax->src0;
    p.srcY = ay->src0;
    p.srcW = ax->src1 - ax->src0;
    p.srcH = ay->src1 - ay->src0;
    p.integral = p.srcX == std::floor(p.srcX) && p.srcY == std::floor(p.srcY) &&
                 p.srcW == p.dst.w && p.srcH == p.dst.h;
    return p;
}

} // namespace pgmosaic
