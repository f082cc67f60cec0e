// The catalog side of gdaladdo: PgOverviewStore, pgmosaic::OverviewStore over libpq. Existing
// tiles and their sources are read through the read connection, registrations go through an
// items layer on the write connection, removals through remove_rasters and, for gdaladdo
// -clean, a DELETE of the mosaic's overview items.
#include <algorithm>

#include "error.h"
#include "pgmosaic_driver.h"

using pgmosaic::Error;
using pgmosaic::ErrorKind;

namespace
{

// A text[] literal element, double-quoted with backslash escapes.
std::string QuoteArrayElement(const std::string& v)
{
    std::string out = "\"";
    for (char c : v)
    {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + "\"";
}

} // namespace

PgOverviewStore::PgOverviewStore(PgConnection& reads, PgConnection& writes, PgItemCatalog& catalog,
                                 const std::string& postgis, const pgmosaic::MosaicInfo& mosaic)
    : m_oReads(reads), m_oWrites(writes), m_oCatalog(catalog), m_osPostgis(postgis),
      m_oMosaic(mosaic)
{
}

PgOverviewStore::~PgOverviewStore() = default;

std::map<std::string, std::string> PgOverviewStore::LevelTiles(int level)
{
    std::map<std::string, std::string> tiles;
    auto res = m_oReads.Exec("SELECT path::text, status FROM pgmosaic.item WHERE "
                             "mosaic_id = $1 AND category = 'overview' AND "
                             "overview_level = $2",
                             {std::to_string(m_oMosaic.id), std::to_string(level)});
    for (int i = 0; i < PQntuples(res.get()); ++i)
        tiles[PQgetvalue(res.get(), i, 0)] = PQgetvalue(res.get(), i, 1);
    return tiles;
}

// The _overview_sources of the tile, as register_raster's built_from takes it:
// '{xmin,ymin,xmax,ymax}|digest'.
std::string PgOverviewStore::TileSources(const pgmosaic::OverviewLevelGrid& grid, int col, int row)
{
    const auto gt = pgmosaic::TileGeoTransform(m_oMosaic, grid, col, row);
    const double x1 = gt[0] + grid.tileSize * gt[1], y0 = gt[3] + grid.tileSize * gt[5];
    const std::string bounds =
        CPLSPrintf("{%.17g,%.17g,%.17g,%.17g}", std::min(gt[0], x1), std::min(gt[3], y0),
                   std::max(gt[0], x1), std::max(gt[3], y0));
    auto res = m_oReads.Exec("SELECT pgmosaic._overview_sources($1, $2::float8[])",
                             {std::to_string(m_oMosaic.id), bounds});
    return bounds + "|" + PQgetvalue(res.get(), 0, 0);
}

// Registration as the items layer does it, tiles inspected here; the layer is made at the
// first tile and registers what it still holds when the store is destroyed.
void PgOverviewStore::Register(const std::string& stored, int level, const std::string& builtFrom)
{
    if (!m_poLayer)
    {
        const char* loadOptions[] = {"FOOTPRINT=EXTENT", "STATISTICS=APPROX", "ON_DUPLICATE=UPDATE",
                                     "BATCH_SIZE=64", nullptr};
        m_poLayer = std::make_unique<PGMosaicItemsLayer>(
            m_oWrites, m_osPostgis, m_oMosaic.name, kLayerItems, m_oMosaic.srid,
            LoadItemColumns(m_oReads), true, ParseLoadOptions(nullptr, loadOptions));
        for (const char* field : {"category", "overview_level", "built_from"})
        {
            OGRFieldDefn fd(field, EQUAL(field, "overview_level") ? OFTInteger : OFTString);
            m_poLayer->CreateField(&fd);
        }
    }
    OGRFeature f(m_poLayer->GetLayerDefn());
    f.SetField("path", stored.c_str());
    f.SetField("category", "overview");
    f.SetField("overview_level", level);
    f.SetField("built_from", builtFrom.c_str());
    if (m_poLayer->CreateFeature(&f) != OGRERR_NONE)
        throw Error(ErrorKind::Catalog, CPLGetLastErrorMsg());
}

void PgOverviewStore::Flush()
{
    if (m_poLayer && !m_poLayer->Flush())
        throw Error(ErrorKind::Catalog, CPLGetLastErrorMsg());
}

void PgOverviewStore::Remove(const std::vector<std::string>& stored)
{
    std::string array = "{";
    for (size_t i = 0; i < stored.size(); ++i)
        array += (i ? "," : "") + QuoteArrayElement(stored[i]);
    m_oWrites.Exec("SELECT pgmosaic.remove_rasters($1, $2::text[])", {m_oMosaic.name, array + "}"});
}

void PgOverviewStore::Invalidate()
{
    m_oCatalog.Invalidate();
}

std::vector<std::string> PgOverviewStore::RemoveAll()
{
    auto res = m_oWrites.Exec("DELETE FROM pgmosaic.item WHERE mosaic_id = $1 AND "
                              "category = 'overview' RETURNING pgmosaic.resolve(path)",
                              {std::to_string(m_oMosaic.id)});
    std::vector<std::string> files;
    for (int i = 0; i < PQntuples(res.get()); ++i)
        files.emplace_back(PQgetvalue(res.get(), i, 0));
    return files;
}
