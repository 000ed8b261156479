"""Storage formats: palette PNG masks, flow .h5 files, zarr caches."""
