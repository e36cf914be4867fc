//! Teaching schemes: absmax, zero-point (affine), granularity and calibration.
