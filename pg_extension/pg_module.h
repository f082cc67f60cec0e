// What the backend module's files share (defined in pgmosaic_pg.cpp, the module file): GDAL set
// up for the backend, and the file access policy the superuser settings describe.
#pragma once

#include "path_policy.h"

namespace pgmosaic
{

// Registers GDAL's drivers once, with side-car files and GDAL's own error printing off.
void EnsureGdal();

// The backend's file access policy from the pgmosaic.* settings of this session
// (enable_file_access, allowed_roots, allowed_drivers, allowed_network_prefixes).
FileAccessPolicy CurrentFileAccessPolicy();

// pgmosaic.max_read_pixels: the most values (width x height x bands) one call composes.
int MaxReadPixels();

} // namespace pgmosaic
