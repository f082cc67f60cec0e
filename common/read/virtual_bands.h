// The bands a reader exposes: bands of the mosaic, and virtual bands computed per pixel from
// the composed bands by a band expression (ndvi:(nir-red)/(nir+red)), from the connection's
// bands= or the mosaic's stored virtual bands.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "gdal.h"

#include "catalog.h"
#include "inspect/expression.h"
#include "read/composite_reader.h"

namespace pgmosaic
{

struct OutputBand
{
    int band = 0;     // the mosaic band; 0 for a virtual band
    std::string name; // a virtual band's name (a mosaic band's: its band source's, if any)
    std::optional<Expression> expression;
    GDALDataType type = GDT_Float32; // a virtual band's
};

// The output bands of a bands= value: a comma-separated list (commas inside parentheses belong
// to expressions) of mosaic bands by number, b<n> or name, and virtual bands as
// name:expression or name:<GDAL type>:expression (Float32 unless given), or the name of a
// stored virtual band. Empty: every mosaic band, then the stored virtual bands. `stored`: the
// mosaic's virtual bands as name:[type:]expression. Throws Error(InvalidParameter) naming the
// problem.
std::vector<OutputBand> ParseOutputBands(const std::string& value, const MosaicInfo& mosaic,
                                         const std::vector<std::string>& stored = {});

// One name:[type:]expression (a virtual band) over the mosaic's bands.
OutputBand ParseVirtualBand(const std::string& text, const MosaicInfo& mosaic);

// The mosaic bands that output bands `which` (0-based indices into `outputs`) need.
std::vector<int> InputBands(const std::vector<OutputBand>& outputs, const std::vector<int>& which);

// Reads output bands `which` into `buf` (bufW x bufH): with no virtual band among them one read
// of their mosaic bands by `read`, else a read of their inputs as Float64 then each band
// copied or computed (`nodata`: where an input has it, a virtual band has it too).
void ReadOutputBands(const std::vector<OutputBand>& outputs, const std::vector<int>& which,
                     int bufW, int bufH, const BufferSpec& buf, std::optional<double> nodata,
                     const std::function<void(const std::vector<int>&, const BufferSpec&)>& read);

} // namespace pgmosaic
