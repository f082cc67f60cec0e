// How a mosaic is composed at read time: the options of the connection string and of -oo.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "gdal.h"
#include "gdalwarper.h"

#include "cancel.h"
#include "path_policy.h"

namespace pgmosaic
{

class KeptSources; // read/source_pool.h

enum class Method
{
    First, // the topmost valid pixel (mosaic order)
    Last,  // the bottommost valid pixel
    Min,
    Max,
    Mean,
    Sum,
    Count, // number of items with a valid pixel
    // Per pixel over the items' valid pixels (common/read/stack_methods): the median, a
    // percentile (linear between the nearest ranks, as numpy's), the standard deviation
    // (population), and the item whose quality expression is highest, all bands from it.
    Median,
    Percentile,
    Stdev,
    Quality,
};

struct Resampling
{
    std::string name = "nearest";
    GDALRIOResampleAlg rasterIO = GRIORA_NearestNeighbour;
    GDALResampleAlg warp = GRA_NearestNeighbour;
};

struct ReadOptions
{
    Method method = Method::First;
    Resampling resampling{};
    bool skipMissing = false; // missing=skip: warn once per item and treat it as absent
    int numThreads = 1;       // sources read in parallel
    // Checked before every item a read opens and reads (from any reading thread): the
    // backend's pending interrupt.
    Cancel cancel{};
    // When set, items are opened only as this policy allows (OpenAllowed: within its roots,
    // with its drivers, sidecars within the roots): the backend's file access settings.
    std::shared_ptr<const FileAccessPolicy> sourcePolicy{};
    // When set (with a sourcePolicy), local files stay open from one read to the next there
    // (source_pool.h): the backend's.
    std::shared_ptr<KeptSources> keptSources{};
    // mask=: an expression over the mosaic's bands, true where an item's pixels are
    // transparent; empty: the mosaic's stored mask; "none": no mask (read/pixel_mask.h).
    std::string mask{};
    double percentile = 50; // method=percentile:P
    std::string quality{};  // method=quality:<expression>
    int maxItems = 0;       // max_items=: only the first items in mosaic order (0: all)
};

// The options of a read from the driver's keys (conninfo.h: method, resampling, missing,
// num_threads), each looked up by `option` (empty: not given); `defaultThreads` when
// num_threads is not given. Throws Error(InvalidParameter) naming a bad value.
ReadOptions ParseReadOptions(const std::function<std::string(const char* key)>& option,
                             const std::string& defaultThreads);

// Parsers for option values; each throws Error(InvalidParameter) naming the bad value.
Method ParseMethod(const std::string& value);
// A method with its parameter (percentile:P, quality:<expression>) into `options`.
void ParseMethodInto(const std::string& value, ReadOptions& options);
const char* MethodName(Method method);
// The method as a read names it, with its parameter.
std::string MethodText(const ReadOptions& options);
Resampling ParseResampling(const std::string& value);
bool ParseMissing(const std::string& value);   // "fail" -> false, "skip" -> true
int ParseNumThreads(const std::string& value); // a count or ALL_CPUS
// "4,3,2" -> {4, 3, 2}, each within [1, bandCount], no repeats; a band may also be given as b4,
// or by its name (`names`, per band, case-insensitive; a name wins over the b4 form).
std::vector<int> ParseBandList(const std::string& value, int bandCount,
                               const std::vector<std::string>& names = {});
// The band a token of a band list names: its name, its number or b<number>; 0 when none.
int BandOfToken(const std::string& token, int bandCount, const std::vector<std::string>& names);

// The data type a method produces from items of `itemType`.
GDALDataType MethodDataType(Method method, GDALDataType itemType);
// The value a composite by `method` holds where no item has a valid pixel: 0 for a count, else
// the mosaic's nodata (0 without one).
double MethodFill(Method method, const std::optional<double>& mosaicNodata);

} // namespace pgmosaic
