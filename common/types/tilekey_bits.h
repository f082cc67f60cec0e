// The bit layout of tile keys (see tilekey.h), shared by the key arithmetic of tilekey.cpp and
// the coverer of wkb_cover.cpp. Internal to common/types/.
#pragma once

#include <cstdint>

#include "types/tilekey.h"

namespace pgmosaic
{
namespace tilekey_bits
{

// The position of the lowest of the two bits that hold the digit of level `zoom` (1..max).
inline constexpr int DigitShift(int zoom)
{
    return 5 + 2 * (kTileKeyMaxZoom - zoom);
}

inline constexpr std::uint64_t LowMask(int bits)
{
    return bits >= 64 ? ~std::uint64_t{0} : (std::uint64_t{1} << bits) - 1;
}

inline std::uint64_t Spread(std::uint32_t v32)
{
    std::uint64_t v = v32;
    v = (v | (v << 16)) & 0x0000FFFF0000FFFFull;
    v = (v | (v << 8)) & 0x00FF00FF00FF00FFull;
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0Full;
    v = (v | (v << 2)) & 0x3333333333333333ull;
    v = (v | (v << 1)) & 0x5555555555555555ull;
    return v;
}

inline std::uint32_t Compact(std::uint64_t v)
{
    v &= 0x5555555555555555ull;
    v = (v | (v >> 1)) & 0x3333333333333333ull;
    v = (v | (v >> 2)) & 0x0F0F0F0F0F0F0F0Full;
    v = (v | (v >> 4)) & 0x00FF00FF00FF00FFull;
    v = (v | (v >> 8)) & 0x0000FFFF0000FFFFull;
    v = (v | (v >> 16)) & 0x00000000FFFFFFFFull;
    return static_cast<std::uint32_t>(v);
}

inline std::uint64_t Morton(std::uint32_t x, std::uint32_t y)
{
    return Spread(x) | (Spread(y) << 1);
}

// Bits of the key whose Morton code at `zoom` is `morton`.
inline std::uint64_t BitsOf(int zoom, std::uint64_t morton)
{
    return zoom == 0 ? 0 : (morton << DigitShift(zoom)) | static_cast<std::uint64_t>(zoom);
}

} // namespace tilekey_bits
} // namespace pgmosaic
