// What the backend module's files share: GDAL set up for the backend, the file access policy the
// superuser settings describe, and the catalog's settings (pg_files.cpp).
#pragma once

#include "path_policy.h"

namespace pgmosaic
{

// Registers GDAL's drivers once, with side-car files and GDAL's own error printing off.
void EnsureGdal();

// The backend's file access policy from the pgmosaic.* settings of this session.
FileAccessPolicy CurrentFileAccessPolicy();

// Defines the catalog's settings (pgmosaic.allowed_drivers, pgmosaic.allowed_network_prefixes);
// called from _PG_init.
void CatalogInit();

// Adds the catalog's settings to a policy.
void AddCatalogSettings(FileAccessPolicy& policy);

} // namespace pgmosaic
