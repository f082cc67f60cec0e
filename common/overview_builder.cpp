// Mosaic-wide overviews (DAD): the level build (which tiles to rebuild, the write pipeline,
// files moved into place and registered through the OverviewStore) and its pieces.
#include "overview_builder.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <future>
#include <memory>
#include <optional>
#include <set>
#include <sys/stat.h>
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

std::vector<int> OverviewLevels(const int* factors, int count)
{
    std::vector<int> levels;
    for (int i = 0; i < count; ++i)
    {
        const int f = factors[i];
        if (f < 2 || (f & (f - 1)) != 0)
            throw Error(ErrorKind::InvalidParameter,
                        "overview factor " + std::to_string(f) +
                            " is not a power of two: mosaic-wide levels are 2, 4, 8, ...");
        int k = 0;
        while ((1 << k) < f)
            ++k;
        levels.push_back(k);
    }
    std::sort(levels.begin(), levels.end());
    levels.erase(std::unique(levels.begin(), levels.end()), levels.end());
    return levels;
}

std::vector<OverviewTileId> ParseOverviewTiles(const std::string& text)
{
    std::vector<OverviewTileId> tiles;
    const CPLStringList entries(CSLTokenizeString2(text.c_str(), ", \t\n", 0));
    for (int i = 0; i < entries.size(); ++i)
    {
        const char* entry = entries[i];
        OverviewTileId t;
        int consumed = 0;
        if (sscanf(entry, "%d/%d/%d%n", &t.level, &t.col, &t.row, &consumed) != 3 ||
            entry[consumed] != '\0' || t.level < 1 || t.level > 30 || t.col < 0 || t.row < 0)
            throw Error(ErrorKind::InvalidParameter,
                        std::string("OVERVIEW_TILES: \"") + entry +
                            "\" is not <level>/<col>/<row> (level 1 for factor 2, col and row "
                            "from 0)");
        tiles.push_back(t);
    }
    if (tiles.empty())
        throw Error(ErrorKind::InvalidParameter, "OVERVIEW_TILES names no tile");
    return tiles;
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

namespace
{

// Writes composed tiles one at a time on a thread of its own while the caller composes the
// next; a written tile is moved into place and registered when the next one is handed over or
// at Finish, so registrations keep the tile order. Destroyed with a tile still being written
// (an error or an interruption), it waits for it and deletes its partial file.
class TilePipeline
{
public:
    TilePipeline(OverviewStore& store, CSLConstList cogOptions)
        : m_store(store), m_cogOptions(cogOptions),
          // gdal.config_option in Python and the like hold on the writing thread too.
          m_threadConfig(CPLGetThreadLocalConfigOptions(), TRUE)
    {
    }
    TilePipeline(const TilePipeline&) = delete;
    TilePipeline& operator=(const TilePipeline&) = delete;
    ~TilePipeline()
    {
        if (m_writing)
        {
            m_writing->done.wait();
            VSIUnlink(m_writing->tmp.c_str());
        }
    }

    // Starts writing `tile` (to `file`, registered as `stored`) once the previous one is done.
    void Write(std::shared_ptr<GDALDataset> tile, const std::string& file,
               const std::string& stored, int level, const std::string& builtFrom)
    {
        Finish();
        const std::string tmp = file + ".partial.tif";
        m_writing = Writing{std::async(std::launch::async,
                                       [this, tile, tmp] {
                                           CPLSetThreadLocalConfigOptions(m_threadConfig.List());
                                           WriteOverviewTile(*tile, tmp, m_cogOptions);
                                       }),
                            tmp,
                            file,
                            stored,
                            level,
                            builtFrom};
    }

    // Waits for the tile being written, moves it into place and registers it.
    void Finish()
    {
        if (!m_writing)
            return;
        Writing w = std::move(*m_writing);
        m_writing.reset();
        try
        {
            w.done.get(); // the writer's Error, if any
        }
        catch (...)
        {
            VSIUnlink(w.tmp.c_str());
            throw;
        }
        if (VSIRename(w.tmp.c_str(), w.file.c_str()) != 0)
        {
            VSIUnlink(w.tmp.c_str());
            throw Error(ErrorKind::Io, "cannot move " + w.tmp + " to " + w.file);
        }
        chmod(w.file.c_str(), 0644); // the database server may read it too (local files)
        m_store.Register(w.stored, w.level, w.builtFrom);
    }

private:
    struct Writing
    {
        std::future<void> done;
        std::string tmp, file, stored;
        int level;
        std::string builtFrom; // the items under the tile when it was composed
    };
    OverviewStore& m_store;
    CSLConstList m_cogOptions;
    const CPLStringList m_threadConfig;
    std::optional<Writing> m_writing{};
};

} // namespace

void BuildOverviews(CompositeReader& reader, const MosaicInfo& mosaic, OverviewStore& store,
                    const OverviewBuildPlan& plan, GDALProgressFunc progress, void* progressData)
{
    double total = 0, done = 0;
    const std::set<OverviewTileId> only(plan.only.begin(), plan.only.end());
    for (const OverviewTileId& t : only)
    {
        if (std::find(plan.levels.begin(), plan.levels.end(), t.level) == plan.levels.end())
            throw Error(ErrorKind::InvalidParameter,
                        CPLSPrintf("OVERVIEW_TILES: tile %d/%d/%d is of a level (factor %d) "
                                   "this build does not make",
                                   t.level, t.col, t.row, 1 << t.level));
        const auto g = LevelGrid(mosaic, t.level, plan.tileSize);
        if (t.col >= g.cols || t.row >= g.rows)
            throw Error(ErrorKind::InvalidParameter,
                        CPLSPrintf("OVERVIEW_TILES: tile %d/%d/%d is outside level %d's grid of "
                                   "%d x %d tiles",
                                   t.level, t.col, t.row, t.level, g.cols, g.rows));
    }
    for (int k : plan.levels)
    {
        const auto g = LevelGrid(mosaic, k, plan.tileSize);
        total += static_cast<double>(g.cols) * g.rows;
    }
    if (!only.empty())
        total = static_cast<double>(only.size());
    std::vector<std::string> obsolete;
    TilePipeline pipeline(store, plan.cogOptions.List());
    for (int k : plan.levels)
    {
        if (!only.empty() && std::none_of(only.begin(), only.end(),
                                          [k](const OverviewTileId& t) { return t.level == k; }))
            continue;
        const auto grid = LevelGrid(mosaic, k, plan.tileSize);
        const std::string sub = "/" + mosaic.name + "_overviews/L" + std::to_string(k);
        if (VSIMkdirRecursive((plan.directory + sub).c_str(), 0755) != 0)
            throw Error(ErrorKind::Io, "cannot create " + plan.directory + sub);
        const std::map<std::string, std::string> existing = store.LevelTiles(k);
        for (int row = 0; row < grid.rows; ++row)
            for (int col = 0; col < grid.cols; ++col)
            {
                if (!only.empty() && only.count({k, col, row}) == 0)
                    continue;
                const std::string name = CPLSPrintf("/r%05d_c%05d.tif", row, col);
                const std::string stored = plan.storedDirectory + sub + name;
                const std::string file = plan.directory + sub + name;
                const auto it = existing.find(stored);
                if (it == existing.end() || it->second != "ok")
                {
                    // What the tile is composed from, taken before the items are asked for:
                    // registration marks it stale if that changed meanwhile.
                    const std::string builtFrom = store.TileSources(grid, col, row);
                    store.Invalidate();
                    std::shared_ptr<GDALDataset> tile =
                        ComposeOverviewTile(reader, mosaic, grid, col, row);
                    if (tile)
                        pipeline.Write(std::move(tile), file, stored, k, builtFrom);
                    else if (it != existing.end())
                    {
                        obsolete.push_back(stored);
                        VSIUnlink(file.c_str());
                    }
                }
                ++done;
                if (progress && !progress(done / total, nullptr, progressData))
                    throw Error(ErrorKind::Internal, "interrupted");
            }
        // The next level reads this one: register it first.
        pipeline.Finish();
        store.Flush();
        store.Invalidate();
    }
    if (!obsolete.empty())
        store.Remove(obsolete);
}

void CleanOverviews(OverviewStore& store)
{
    for (const std::string& file : store.RemoveAll())
        VSIUnlink(file.c_str());
    store.Invalidate();
}

} // namespace pgmosaic
