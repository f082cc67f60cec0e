#include "overview_builder.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "gdal_priv.h"
#include "ogr_spatialref.h"

#include "error.h"

namespace pgmosaic
{

OverviewLevelGrid LevelGrid(const MosaicInfo& mosaic, int level, int tileSize)
{
    OverviewLevelGrid g;
    g.level = level;
    g.tileSize = tileSize;
    const int f = 1 << level;
    g.width = (mosaic.width + f - 1) / f;
    g.height = (mosaic.height + f - 1) / f;
    g.cols = (g.width + tileSize - 1) / tileSize;
    g.rows = (g.height + tileSize - 1) / tileSize;
    return g;
}

GeoTransform TileGeoTransform(const MosaicInfo& mosaic, const OverviewLevelGrid& grid, int col,
                              int row)
{
    const double f = static_cast<double>(1 << grid.level);
    const auto& m = mosaic.gt;
    return {m[0] + col * grid.tileSize * f * m[1], m[1] * f, 0,
            m[3] + row * grid.tileSize * f * m[5], 0,        m[5] * f};
}

CPLStringList OverviewTileOptions()
{
    CPLStringList options;
    std::string compress = CPLGetConfigOption("COMPRESS_OVERVIEW", "ZSTD");
    auto* cog = GetGDALDriverManager()->GetDriverByName("COG");
    const char* list = cog ? cog->GetMetadataItem(GDAL_DMD_CREATIONOPTIONLIST) : nullptr;
    if (EQUAL(compress.c_str(), "ZSTD") && (list == nullptr || !strstr(list, "ZSTD")))
        compress = "DEFLATE";
    options.SetNameValue("COMPRESS", compress.c_str());
    const char* level = EQUAL(compress.c_str(), "ZSTD")      ? "ZSTD_LEVEL_OVERVIEW"
                        : EQUAL(compress.c_str(), "DEFLATE") ? "ZLEVEL_OVERVIEW"
                                                             : nullptr;
    if (level && CPLGetConfigOption(level, nullptr))
        options.SetNameValue("LEVEL", CPLGetConfigOption(level, nullptr));
    if (const char* predictor = CPLGetConfigOption("PREDICTOR_OVERVIEW", nullptr))
        options.SetNameValue("PREDICTOR", predictor);
    options.SetNameValue("BLOCKSIZE", "512");
    options.SetNameValue("OVERVIEWS", "NONE");
    return options;
}

GDALDatasetUniquePtr ComposeOverviewTile(CompositeReader& reader, const MosaicInfo& mosaic,
                                         const OverviewLevelGrid& grid, int col, int row)
{
    const int f = 1 << grid.level, t = grid.tileSize;
    const int w = std::min(t, grid.width - col * t), h = std::min(t, grid.height - row * t);
    const Request req{{col * t * f, row * t * f, w * f, h * f}, w, h};
    const int bands = mosaic.bandCount;
    const GDALDataType type = mosaic.dataType;
    const int typeSize = GDALGetDataTypeSizeBytes(type);
    const size_t pixels = static_cast<size_t>(w) * h;

    std::vector<GByte> coverage(pixels);
    reader.ReadCoverage(req, {coverage.data(), GDT_Byte, 1, w, 0}, grid.level - 1);
    if (std::none_of(coverage.begin(), coverage.end(), [](GByte v) { return v != 0; }))
        return nullptr;
    std::vector<GByte> data(pixels * bands * typeSize);
    std::vector<int> all;
    for (int b = 1; b <= bands; ++b)
        all.push_back(b);
    reader.Read(req, all,
                {data.data(), type, typeSize, static_cast<GSpacing>(w) * typeSize,
                 static_cast<GSpacing>(pixels) * typeSize},
                grid.level - 1);

    auto* memDriver = GetGDALDriverManager()->GetDriverByName("MEM");
    GDALDatasetUniquePtr mem(memDriver->Create("", w, h, bands, type, nullptr));
    GeoTransform gt = TileGeoTransform(mosaic, grid, col, row);
    mem->SetGeoTransform(gt.data());
    mem->SetProjection(mosaic.srsWkt.c_str());
    if (mem->RasterIO(GF_Write, 0, 0, w, h, data.data(), w, h, type, bands, all.data(), typeSize,
                      static_cast<GSpacing>(w) * typeSize, static_cast<GSpacing>(pixels) * typeSize,
                      nullptr) != CE_None)
        throw Error(
            ErrorKind::Internal,
            CPLSPrintf("cannot compose overview tile %d, %d of level %d", col, row, grid.level));
    const bool allValid =
        std::all_of(coverage.begin(), coverage.end(), [](GByte v) { return v != 0; });
    if (mosaic.nodata)
        for (int b = 1; b <= bands; ++b)
            mem->GetRasterBand(b)->SetNoDataValue(*mosaic.nodata);
    else if (!allValid &&
             (mem->CreateMaskBand(GMF_PER_DATASET) != CE_None ||
              mem->GetRasterBand(1)->GetMaskBand()->RasterIO(
                  GF_Write, 0, 0, w, h, coverage.data(), w, h, GDT_Byte, 0, 0, nullptr) != CE_None))
        throw Error(ErrorKind::Internal,
                    CPLSPrintf("cannot write the mask of overview tile %d, %d of level %d", col,
                               row, grid.level));
    return mem;
}

void WriteOverviewTile(GDALDataset& tile, const std::string& path, CSLConstList cogOptions)
{
    GdalErrorCollector errors;
    auto* cog = GetGDALDriverManager()->GetDriverByName("COG");
    GDALDatasetUniquePtr out(cog->CreateCopy(path.c_str(), &tile, FALSE,
                                             const_cast<char**>(cogOptions), nullptr, nullptr));
    if (!out)
        throw Error(ErrorKind::Io, "cannot write overview tile " + path + ": " +
                                       errors.Message("COG creation failed"));
}

bool BuildOverviewTile(CompositeReader& reader, const MosaicInfo& mosaic,
                       const OverviewLevelGrid& grid, int col, int row, const std::string& path,
                       CSLConstList cogOptions)
{
    GDALDatasetUniquePtr tile = ComposeOverviewTile(reader, mosaic, grid, col, row);
    if (!tile)
        return false;
    WriteOverviewTile(*tile, path, cogOptions);
    return true;
}

} // namespace pgmosaic
