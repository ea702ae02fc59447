//! NumPy arrays: one image per `.npy` file (shape `(H, W)` or `(H, W, C)`), and
//! MedMNIST-style `.npz` archives holding `{split}_images` and
//! `{split}_labels` arrays. Integer and float32/float64 dtypes in C or Fortran
//! order; other dtypes (bool, float16, complex, objects) are refused. Sizes
//! are checked against [`ReadLimits`] from the `.npy` header and the zip
//! entry size before any array is allocated.

use std::io::Read;
use std::path::{Path, PathBuf};

use ndarray::ShapeBuilder;
use ndarray_npy::ReadableElement;
use ndarray_npy::npy::header::Header;

use super::{Image, ImageError, ImageSource, Orientation, ReadLimits, read_file};

/// Images and labels of one split of a MedMNIST-style `.npz` archive.
#[derive(Debug, Clone, PartialEq)]
pub struct NpzSplit {
    /// One image per case, in archive order.
    pub images: Vec<Image>,
    /// One label row per case: `(N, 1)` gives one value per case, `(N, k)`
    /// (multi-label) gives `k`.
    pub labels: Vec<Vec<u8>>,
}

/// One `.npy` file holding a single image: shape `(H, W)` or `(H, W, C)` with
/// `C` 1 or 3; any integer or float dtype; C or Fortran order.
pub(super) fn decode_npy(
    path: &Path,
    bytes: &[u8],
    limits: &ReadLimits,
) -> Result<Image, ImageError> {
    let name = path
        .file_name()
        .map_or_else(|| "array".into(), |n| n.to_string_lossy().into_owned());
    let array = parse_npy(bytes, path, &name, limits)?;
    let (h, w, c) = match array.shape.as_slice() {
        &[h, w] => (h, w, 1),
        &[h, w, c] if c == 1 || c == 3 => (h, w, c),
        other => {
            return Err(array_err(
                path,
                &name,
                format!("shape {other:?}; expected (H, W) or (H, W, C) with C = 1 or 3"),
            ));
        }
    };
    let pixels = array.into_f32(path, &name)?;
    image_from_parts(path, &name, limits, w, h, c, pixels)
}

/// Reads split `split` (e.g. `"test"`) of a MedMNIST-style `.npz` archive:
/// `{split}_images` of shape `(N, H, W)` or `(N, H, W, C)` with `C` 1 or 3,
/// and `{split}_labels` of shape `(N, k)` or `(N,)` with integer values 0–255.
/// Image arrays may have any integer or float dtype (MedMNIST uses uint8);
/// archives may be stored or deflate-compressed (`np.savez_compressed`).
///
/// # Errors
///
/// [`ImageError::Array`] naming the array for a missing array (the message
/// lists those present), a wrong rank or shape, an unsupported dtype, a
/// label outside 0–255, or image and label counts that differ;
/// [`ImageError::Decode`] for a corrupt archive; [`ImageError::TooLarge`].
pub fn read_npz_split(
    path: &Path,
    split: &str,
    limits: &ReadLimits,
) -> Result<NpzSplit, ImageError> {
    let bytes = read_file(path, limits)?;
    let cases = decode_npz_split(path, &bytes, split, limits)?;
    let images = (0..cases.images.len())
        .map(|i| cases.images.image(i))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(NpzSplit {
        images,
        labels: cases.labels,
    })
}

/// One split of a MedMNIST-style archive with its images kept in the
/// archive's own element type (uint8 for MedMNIST): each [`Image`] is made
/// on demand by [`NpzImages::image`], so a whole-set `f32` copy never exists.
#[derive(Debug)]
pub struct NpzCases {
    /// The images, converted one at a time.
    pub images: NpzImages,
    /// One label row per case (see [`NpzSplit::labels`]).
    pub labels: Vec<Vec<u8>>,
}

/// The image array of an `.npz` split, in C order, in its stored element type.
#[derive(Debug)]
pub struct NpzImages {
    path: PathBuf,
    name: String,
    n: usize,
    height: usize,
    width: usize,
    channels: usize,
    values: Values,
}

impl NpzImages {
    /// Number of images.
    #[must_use]
    pub fn len(&self) -> usize {
        self.n
    }

    /// True when the split holds no images.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// Image `i` as `f32` pixel values.
    ///
    /// # Errors
    ///
    /// [`ImageError::Invalid`] for an index past the end, [`ImageError::Array`]
    /// for a value that is not finite as `f32`.
    pub fn image(&self, i: usize) -> Result<Image, ImageError> {
        if i >= self.n {
            return Err(ImageError::Invalid {
                path: self.path.clone(),
                reason: format!(
                    "image {i} requested from '{}' of {} images",
                    self.name, self.n
                ),
            });
        }
        let per = self.height * self.width * self.channels;
        let range = i * per..(i + 1) * per;
        let pixels = self.values.slice_f32(range.clone());
        if let Some(j) = pixels.iter().position(|v| !v.is_finite()) {
            return Err(array_err(
                &self.path,
                &self.name,
                format!(
                    "value at flat index {} is not finite as float32",
                    range.start + j
                ),
            ));
        }
        Ok(Image {
            width: self.width as u32,
            height: self.height as u32,
            channels: self.channels as u8,
            pixels,
            source: ImageSource::Npy,
            dicom: None,
            sample_bits: None,
            orientation: Orientation::NoTransforms,
        })
    }
}

/// Reads split `split` of a MedMNIST-style `.npz` archive from its bytes
/// (see [`read_npz_split`] for the layout), keeping the images in their
/// stored element type.
///
/// # Errors
///
/// As [`read_npz_split`].
pub fn decode_npz_split(
    path: &Path,
    bytes: &[u8],
    split: &str,
    limits: &ReadLimits,
) -> Result<NpzCases, ImageError> {
    let mut zip =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(|e| ImageError::Decode {
            path: path.to_path_buf(),
            format: "NPZ (zip)",
            reason: e.to_string(),
        })?;
    let images_name = format!("{split}_images");
    let labels_name = format!("{split}_labels");
    let images = read_npz_array(&mut zip, path, &images_name, limits)?;
    let labels = read_npz_array(&mut zip, path, &labels_name, limits)?;

    let (n, h, w, c) = match images.shape.as_slice() {
        &[n, h, w] => (n, h, w, 1),
        &[n, h, w, c] if c == 1 || c == 3 => (n, h, w, c),
        other => {
            return Err(array_err(
                path,
                &images_name,
                format!("shape {other:?}; expected (N, H, W) or (N, H, W, C) with C = 1 or 3"),
            ));
        }
    };
    let k = match labels.shape.as_slice() {
        &[m] if m == n => 1,
        &[m, k] if m == n && k >= 1 => k,
        other => {
            return Err(array_err(
                path,
                &labels_name,
                format!(
                    "shape {other:?}; expected ({n}, k) to match {n} images in '{images_name}'"
                ),
            ));
        }
    };
    if n > 0 {
        limits.check(path, w as u64, h as u64)?;
        if h == 0 || w == 0 {
            return Err(array_err(
                path,
                &images_name,
                format!("images of {h}x{w} pixels; both must be at least 1"),
            ));
        }
    }
    let label_values = labels.into_u8(path, &labels_name)?;
    let values = images
        .values
        .into_c_order(&images.shape, images.fortran, path, &images_name)?;
    let labels = label_values.chunks_exact(k).map(<[u8]>::to_vec).collect();
    Ok(NpzCases {
        images: NpzImages {
            path: path.to_path_buf(),
            name: images_name,
            n,
            height: h,
            width: w,
            channels: c,
            values,
        },
        labels,
    })
}

fn read_npz_array<R: Read + std::io::Seek>(
    zip: &mut zip::ZipArchive<R>,
    path: &Path,
    name: &str,
    limits: &ReadLimits,
) -> Result<NumArray, ImageError> {
    let entry_name = [format!("{name}.npy"), name.to_string()]
        .into_iter()
        .find(|n| zip.index_for_name(n).is_some());
    let Some(entry_name) = entry_name else {
        let mut present: Vec<&str> = zip
            .file_names()
            .map(|n| n.trim_end_matches(".npy"))
            .collect();
        present.sort_unstable();
        return Err(array_err(
            path,
            name,
            format!("not in the archive; it holds {present:?}"),
        ));
    };
    let corrupt = |e: String| ImageError::Decode {
        path: path.to_path_buf(),
        format: "NPZ (zip)",
        reason: format!("entry '{entry_name}': {e}"),
    };
    let mut entry = zip
        .by_name(&entry_name)
        .map_err(|e| corrupt(e.to_string()))?;
    let size = entry.size();
    if size > limits.max_bytes {
        return Err(array_err(
            path,
            name,
            format!(
                "{size} bytes uncompressed, more than the limit of {}",
                limits.max_bytes
            ),
        ));
    }
    let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
    entry
        .by_ref()
        .take(size)
        .read_to_end(&mut bytes)
        .map_err(|e| corrupt(e.to_string()))?;
    parse_npy(&bytes, path, name, limits)
}

/// A NumPy array read into one of the element types images and labels use.
struct NumArray {
    shape: Vec<usize>,
    /// Stored in Fortran (column-major) order.
    fortran: bool,
    values: Values,
}

#[derive(Debug)]
enum Values {
    U8(Vec<u8>),
    I8(Vec<i8>),
    U16(Vec<u16>),
    I16(Vec<i16>),
    U32(Vec<u32>),
    I32(Vec<i32>),
    U64(Vec<u64>),
    I64(Vec<i64>),
    F32(Vec<f32>),
    F64(Vec<f64>),
}

/// Parses `.npy` bytes with `ndarray-npy`'s header parser and element
/// readers, checking the declared size against the bytes present before
/// allocating, and returning values in C (row-major) order.
fn parse_npy(
    bytes: &[u8],
    path: &Path,
    name: &str,
    limits: &ReadLimits,
) -> Result<NumArray, ImageError> {
    let err = |reason: String| array_err(path, name, reason);
    let mut rest = bytes;
    let header =
        Header::from_reader(&mut rest).map_err(|e| err(format!("not a valid .npy array: {e}")))?;
    let descr = header
        .type_descriptor
        .as_string()
        .cloned()
        .unwrap_or_else(|| header.type_descriptor.to_string());
    let item_size: u64 = match descr.trim_start_matches(['<', '>', '|', '=']) {
        "u1" | "i1" | "B" | "b" => 1,
        "u2" | "i2" => 2,
        "u4" | "i4" | "f4" => 4,
        "u8" | "i8" | "f8" => 8,
        _ => {
            return Err(err(format!(
                "dtype '{descr}' is not supported; expected an integer or float32/float64 type"
            )));
        }
    };
    let len = header
        .shape
        .iter()
        .try_fold(1u64, |acc, &d| acc.checked_mul(d as u64))
        .ok_or_else(|| err(format!("shape {:?} overflows", header.shape)))?;
    let data_bytes = len
        .checked_mul(item_size)
        .ok_or_else(|| err(format!("shape {:?} overflows", header.shape)))?;
    if data_bytes > limits.max_bytes {
        return Err(err(format!(
            "shape {:?} of {descr} needs {data_bytes} bytes, more than the limit of {}",
            header.shape, limits.max_bytes
        )));
    }
    if data_bytes != rest.len() as u64 {
        return Err(err(format!(
            "header declares shape {:?} of {descr} ({data_bytes} bytes) but {} data bytes follow{}",
            header.shape,
            rest.len(),
            if (rest.len() as u64) < data_bytes {
                " (truncated file)"
            } else {
                ""
            }
        )));
    }
    let len = data_bytes as usize / item_size as usize;
    let read_err = |e: ndarray_npy::ReadDataError| err(format!("cannot read {descr} data: {e}"));
    // Each element reader checks the descriptor (type and byte order) itself
    // and rejects it before reading; the first that accepts it wins.
    macro_rules! first_accepted {
        ($($t:ty => $v:ident),*) => {
            'found: {
                $(
                    if let Some(v) = try_read::<$t>(rest, &header, len).map_err(read_err)? {
                        break 'found Some(Values::$v(v));
                    }
                )*
                None
            }
        };
    }
    let values = first_accepted!(
        u8 => U8, i8 => I8, u16 => U16, i16 => I16, u32 => U32,
        i32 => I32, u64 => U64, i64 => I64, f32 => F32, f64 => F64
    )
    .ok_or_else(|| {
        err(format!(
            "dtype '{descr}' is not supported; expected an integer or float32/float64 type"
        ))
    })?;
    Ok(NumArray {
        shape: header.shape.clone(),
        fortran: header.layout.is_fortran(),
        values,
    })
}

fn try_read<T: ReadableElement>(
    data: &[u8],
    header: &Header,
    len: usize,
) -> Result<Option<Vec<T>>, ndarray_npy::ReadDataError> {
    match T::read_to_end_exact_vec(data, &header.type_descriptor, len) {
        Ok(v) => Ok(Some(v)),
        Err(ndarray_npy::ReadDataError::WrongDescriptor(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

impl NumArray {
    /// All values as finite `f32`, in C order. Integers wider than 24 bits
    /// are rounded to the nearest `f32`.
    fn into_f32(self, path: &Path, name: &str) -> Result<Vec<f32>, ImageError> {
        #[allow(clippy::cast_precision_loss)]
        let values: Vec<f32> = match self.values {
            Values::U8(v) => v.into_iter().map(f32::from).collect(),
            Values::I8(v) => v.into_iter().map(f32::from).collect(),
            Values::U16(v) => v.into_iter().map(f32::from).collect(),
            Values::I16(v) => v.into_iter().map(f32::from).collect(),
            Values::U32(v) => v.into_iter().map(|x| x as f32).collect(),
            Values::I32(v) => v.into_iter().map(|x| x as f32).collect(),
            Values::U64(v) => v.into_iter().map(|x| x as f32).collect(),
            Values::I64(v) => v.into_iter().map(|x| x as f32).collect(),
            Values::F32(v) => v,
            Values::F64(v) => v.into_iter().map(|x| x as f32).collect(),
        };
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(array_err(
                path,
                name,
                format!("value at flat index {i} is not finite as float32"),
            ));
        }
        c_order(values, &self.shape, self.fortran, path, name)
    }

    /// All values as `u8` labels, in C order.
    fn into_u8(self, path: &Path, name: &str) -> Result<Vec<u8>, ImageError> {
        fn narrow<T: Copy + std::fmt::Display>(
            v: Vec<T>,
            path: &Path,
            name: &str,
            conv: impl Fn(T) -> Option<u8>,
        ) -> Result<Vec<u8>, ImageError> {
            v.into_iter()
                .enumerate()
                .map(|(i, x)| {
                    conv(x).ok_or_else(|| {
                        array_err(
                            path,
                            name,
                            format!("label {x} at flat index {i} is outside 0..=255"),
                        )
                    })
                })
                .collect()
        }
        let values = match self.values {
            Values::U8(v) => v,
            Values::I8(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::U16(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::I16(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::U32(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::I32(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::U64(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::I64(v) => narrow(v, path, name, |x| u8::try_from(x).ok())?,
            Values::F32(_) | Values::F64(_) => {
                return Err(array_err(
                    path,
                    name,
                    "labels are floating point; expected an integer dtype".into(),
                ));
            }
        };
        c_order(values, &self.shape, self.fortran, path, name)
    }
}

impl Values {
    /// The values in C order, in their own element type.
    fn into_c_order(
        self,
        shape: &[usize],
        fortran: bool,
        path: &Path,
        name: &str,
    ) -> Result<Values, ImageError> {
        macro_rules! reorder {
            ($($v:ident),*) => {
                match self {
                    $(Values::$v(v) => Values::$v(c_order(v, shape, fortran, path, name)?),)*
                }
            };
        }
        Ok(reorder!(U8, I8, U16, I16, U32, I32, U64, I64, F32, F64))
    }

    /// `range` of the values as `f32` (integers wider than 24 bits rounded).
    #[allow(clippy::cast_precision_loss)]
    fn slice_f32(&self, range: std::ops::Range<usize>) -> Vec<f32> {
        match self {
            Values::U8(v) => v[range].iter().map(|&x| f32::from(x)).collect(),
            Values::I8(v) => v[range].iter().map(|&x| f32::from(x)).collect(),
            Values::U16(v) => v[range].iter().map(|&x| f32::from(x)).collect(),
            Values::I16(v) => v[range].iter().map(|&x| f32::from(x)).collect(),
            Values::U32(v) => v[range].iter().map(|&x| x as f32).collect(),
            Values::I32(v) => v[range].iter().map(|&x| x as f32).collect(),
            Values::U64(v) => v[range].iter().map(|&x| x as f32).collect(),
            Values::I64(v) => v[range].iter().map(|&x| x as f32).collect(),
            Values::F32(v) => v[range].to_vec(),
            Values::F64(v) => v[range].iter().map(|&x| x as f32).collect(),
        }
    }
}

/// Reorders values stored in Fortran (column-major) order into C order.
fn c_order<T: Clone>(
    values: Vec<T>,
    shape: &[usize],
    fortran: bool,
    path: &Path,
    name: &str,
) -> Result<Vec<T>, ImageError> {
    if !fortran || shape.len() < 2 {
        return Ok(values);
    }
    let array = ndarray::ArrayD::from_shape_vec(ndarray::IxDyn(shape).f(), values)
        .map_err(|e| array_err(path, name, format!("shape {shape:?}: {e}")))?;
    Ok(array.iter().cloned().collect())
}

fn array_err(path: &Path, array: &str, reason: String) -> ImageError {
    ImageError::Array {
        path: path.to_path_buf(),
        array: array.to_string(),
        reason,
    }
}

fn image_from_parts(
    path: &Path,
    name: &str,
    limits: &ReadLimits,
    w: usize,
    h: usize,
    c: usize,
    pixels: Vec<f32>,
) -> Result<Image, ImageError> {
    limits.check(path, w as u64, h as u64)?;
    if w == 0 || h == 0 {
        return Err(array_err(
            path,
            name,
            format!("image of {h}x{w} pixels; both must be at least 1"),
        ));
    }
    Ok(Image {
        width: w as u32,
        height: h as u32,
        channels: c as u8,
        pixels,
        source: ImageSource::Npy,
        dicom: None,
        sample_bits: None,
        orientation: Orientation::NoTransforms,
    })
}

/// Writes `image` as a NumPy `.npy` file of float32: shape (rows, cols) for grey, (rows, cols, 3)
/// for colour, the values as decoded (for DICOM: after the Modality LUT, before any VOI window
/// or MONOCHROME1 inversion).
///
/// # Errors
/// The file cannot be created or written.
pub fn write_npy(path: &Path, image: &Image) -> Result<(), String> {
    let (h, w, c) = (
        image.height as usize,
        image.width as usize,
        usize::from(image.channels),
    );
    let shape: &[usize] = if c == 1 { &[h, w] } else { &[h, w, c] };
    write_npy_array(path, shape, NpyData::F32(image.pixels.clone()))
}

/// Values for [`write_npy_array`]: float32, or float64 where 32-bit samples would lose digits.
#[derive(Debug, Clone, PartialEq)]
pub enum NpyData {
    /// Written as `<f4`.
    F32(Vec<f32>),
    /// Written as `<f8`.
    F64(Vec<f64>),
}

/// Writes `data` as a NumPy `.npy` file of the given shape (C order).
///
/// # Errors
///
/// A message naming the file if the shape does not match the number of values or the file
/// cannot be written.
pub fn write_npy_array(path: &Path, shape: &[usize], data: NpyData) -> Result<(), String> {
    let dim = ndarray::IxDyn(shape);
    let written = match data {
        NpyData::F32(v) => ndarray::ArrayD::from_shape_vec(dim, v)
            .map_err(|e| e.to_string())
            .and_then(|a| ndarray_npy::write_npy(path, &a).map_err(|e| e.to_string())),
        NpyData::F64(v) => ndarray::ArrayD::from_shape_vec(dim, v)
            .map_err(|e| e.to_string())
            .and_then(|a| ndarray_npy::write_npy(path, &a).map_err(|e| e.to_string())),
    };
    written.map_err(|e| format!("{}: cannot write: {e}", path.display()))
}
