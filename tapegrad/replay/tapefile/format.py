"""The container of a saved recording: one uncompressed ``.npz`` file.

A tapegrad file is what ``np.savez`` writes (a zip of ``.npy`` entries,
stored, not compressed), read back with ``np.load(..., allow_pickle=False)``
so that no entry can hold a pickle.  Its ``manifest`` entry is UTF-8 JSON
(as a uint8 array): the format's name and version, what the program needs
(see :mod:`tapegrad.replay.tapefile.programs`), the dtype and shape of
every other entry, and a SHA-256 ``checksum`` over the manifest (without
the checksum) and every entry's name, dtype, shape and bytes.

:func:`read` refuses, with a :class:`~tapegrad.errors.TapeFileError` that
says which, what is not such a file: no zip, a truncated or corrupted one
(zip CRC or checksum), a compressed or duplicated entry, a format or
version this tapegrad does not read, a missing or unexpected entry, an
entry of another dtype or shape than its manifest says.

>>> import io
>>> buffer = io.BytesIO()
>>> write({"x": np.arange(3.0)}, {"kind": "demo"}, buffer)
>>> header, entries = read(buffer.getvalue())
>>> header["kind"], entries["x"]
('demo', array([0., 1., 2.]))
>>> read(b"not a zip")
Traceback (most recent call last):
tapegrad.errors.TapeFileError: not a tapegrad file: it is no .npz (zip) archive
"""

import hashlib
import io
import json
import math
import zipfile

import numpy as np

from tapegrad.errors import TapeFileError

FORMAT = "tapegrad-recording"
#: The version this tapegrad writes; it reads the versions in READABLE.
VERSION = 1
READABLE = (1,)
MANIFEST = "manifest"
#: The dtypes an entry may have (little-endian, as written on every machine
#: tapegrad supports): never objects, so loading runs no code.
DTYPES = frozenset(np.dtype(t).str for t in (
    np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
    np.uint64, np.float16, np.float32, np.float64))
#: An entry's .npy header is at most this long (NumPy's own limit).
HEADER_BYTES = 10000


def _canonical(header):
    """The bytes the checksum reads for ``header`` (checksum left out)."""
    body = {key: value for key, value in header.items() if key != "checksum"}
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def checksum(header, entries):
    """The SHA-256 (hex) of ``header`` without its checksum and of every
    entry's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256(_canonical(header))
    for name in sorted(entries):
        array = entries[name]
        digest.update(f"\0{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(np.ascontiguousarray(array).reshape(-1).view(np.uint8))
    return digest.hexdigest()


def write(entries, header, target):
    """Write ``entries`` (name -> array of a dtype in :data:`DTYPES`) and
    ``header`` (JSON-safe) as a tapegrad file to ``target``, a binary file
    object, with the format, version, entry table and checksum added."""
    for name, array in entries.items():
        if name == MANIFEST or array.dtype.str not in DTYPES:
            raise TypeError(f"entry {name!r}: cannot store dtype {array.dtype}")
    header = dict(header, format=FORMAT, version=VERSION,
                  entries={name: {"dtype": a.dtype.str, "shape": list(a.shape)}
                           for name, a in entries.items()})
    header["checksum"] = checksum(header, entries)
    manifest = np.frombuffer(json.dumps(header, sort_keys=True).encode(), dtype=np.uint8)
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, array in ((MANIFEST, manifest), *entries.items()):
            with archive.open(name + ".npy", "w", force_zip64=True) as entry:
                np.lib.format.write_array(entry, np.asanyarray(array), allow_pickle=False)


def read(source):
    """``(header, entries)`` of the tapegrad file ``source`` (a path or the
    file's bytes), checked as the module docstring says."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        handle = io.BytesIO(source)
    else:
        handle = open(source, "rb")  # a missing file raises OSError, as open() does
    with handle:
        if handle.read(4) not in (b"PK\x03\x04", b"PK\x05\x06"):
            raise TapeFileError("not a tapegrad file: it is no .npz (zip) archive")
        handle.seek(0)
        try:
            archive = np.load(handle, allow_pickle=False)
        except Exception as error:  # zipfile's and NumPy's many kinds of bad archive
            raise TapeFileError(f"not a tapegrad file, or a truncated one: {error}") from None
        with archive:
            infos = _entry_infos(archive)
            header = _manifest(archive, infos)
            entries = {name: _entry(archive, infos, name, spec)
                       for name, spec in header["entries"].items()}
    if checksum(header, entries) != header.get("checksum"):
        raise TapeFileError("the file's checksum does not match its contents: it was "
                            "changed or damaged after it was saved")
    return header, entries


def _entry_infos(archive):
    """``{name: ZipInfo}`` of the archive's entries, each stored (never
    compressed: a small file cannot unpack into a huge one) and named once."""
    infos = {}
    for info in archive.zip.infolist():
        if not info.filename.endswith(".npy"):
            raise TapeFileError(f"not a tapegrad file: entry {info.filename!r} is no .npy array")
        name = info.filename[:-4]
        if name in infos:
            raise TapeFileError(f"not a tapegrad file: entry {name!r} appears twice")
        if info.compress_type != zipfile.ZIP_STORED:
            raise TapeFileError(f"entry {name!r} is compressed: tapegrad files are stored "
                                "uncompressed")
        infos[name] = info
    return infos


def _manifest(archive, infos):
    """The manifest of ``archive``, a dict, its format and version checked."""
    if MANIFEST not in infos:
        raise TapeFileError("not a tapegrad file: it has no manifest entry")
    manifest = _array(archive, MANIFEST)
    if manifest.dtype != np.uint8 or manifest.ndim != 1:
        raise TapeFileError("not a tapegrad file: its manifest is not a byte string")
    try:
        header = json.loads(manifest.tobytes().decode("utf-8"))
    except (ValueError, RecursionError) as error:
        raise TapeFileError(f"not a tapegrad file: its manifest is not JSON ({error})") from None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        found = header.get("format") if isinstance(header, dict) else None
        raise TapeFileError(f"not a tapegrad file: its manifest names format {found!r}, "
                            f"not {FORMAT!r}")
    version = header.get("version")
    if version not in READABLE or isinstance(version, bool):
        raise TapeFileError(f"this file is in tapegrad file format version {version!r}; this "
                            f"tapegrad reads version(s) {', '.join(map(str, READABLE))}: load it "
                            "with the tapegrad that saved it, or record it again here")
    table = header.get("entries")
    if not isinstance(table, dict):
        raise TapeFileError("the manifest lists no entries")
    missing = sorted(set(table) - set(infos))
    extra = sorted(set(infos) - set(table) - {MANIFEST})
    if missing or extra:
        raise TapeFileError(f"the file's entries are not those its manifest lists: "
                            f"missing {missing}, unexpected {extra}")
    return header


def _array(archive, name):
    try:
        array = archive[name]
    except Exception as error:  # a damaged entry: CRC, header, truncation, memory
        raise TapeFileError(f"entry {name!r} cannot be read (the file is damaged or "
                            f"truncated): {error}") from None
    if not isinstance(array, np.ndarray):  # NumPy hands back the bytes of a non-.npy entry
        raise TapeFileError(f"entry {name!r} is no .npy array")
    return array


def _entry(archive, infos, name, spec):
    """Entry ``name``, of the dtype and shape ``spec`` (from the manifest)
    says; its stored size is checked before it is read."""
    try:
        dtype, shape = np.dtype(spec["dtype"]), tuple(spec["shape"])
        valid = (dtype.str in DTYPES and all(type(n) is int and n >= 0 for n in shape)
                 and spec["dtype"] == dtype.str)
    except Exception:  # a spec that is no dtype and shape
        valid = False
    if not valid:
        raise TapeFileError(f"the manifest's entry {name!r} has no valid dtype and shape: {spec!r}")
    size = infos[name].file_size
    if size > math.prod(shape) * dtype.itemsize + HEADER_BYTES:
        raise TapeFileError(f"entry {name!r} holds {size} bytes, more than its manifest's "
                            f"{spec['dtype']} {list(shape)}")
    array = _array(archive, name)
    if array.dtype.str != dtype.str or array.shape != shape:
        raise TapeFileError(f"entry {name!r} is {array.dtype.str} {list(array.shape)}; "
                            f"the manifest says {spec['dtype']} {list(shape)}")
    return array
