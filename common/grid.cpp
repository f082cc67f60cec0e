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
