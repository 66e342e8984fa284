"""What a GGUF file says about how a model reads a prompt: hashes of its chat template and its tokenizer.

Two answers of the same weights can differ because the chat template or the tokenizer differ (a re-converted
file, a fixed template). The embedded engine's answers therefore carry, beside the weights' sha256,
``chat_template_sha256`` (of ``tokenizer.chat_template``, UTF-8) and ``tokenizer_sha256`` (of every other
``tokenizer.*`` key-value entry exactly as the file stores it: key, type and value bytes, in file order), each the
first 16 hex digits (as a llama.cpp server's template hash is recorded). The file is read here without the ``gguf``
package (only its key-value header; the tensors are not touched); ``tests/core/test_gguf_meta.py`` checks the hashes
against the bytes the ``gguf`` package reads.
"""

from __future__ import annotations

import hashlib
import mmap
import struct
from pathlib import Path

_SCALAR = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}  # GGUF value type -> bytes
STRING, ARRAY = 8, 9


def _value_end(buf, pos: int, vtype: int) -> int:
    """Where a value of ``vtype`` starting at ``pos`` ends."""
    if vtype in _SCALAR:
        return pos + _SCALAR[vtype]
    if vtype == STRING:
        (n,) = struct.unpack_from("<Q", buf, pos)
        return pos + 8 + n
    if vtype == ARRAY:
        itype, count = struct.unpack_from("<IQ", buf, pos)
        pos += 12
        if itype in _SCALAR:
            return pos + count * _SCALAR[itype]
        for _ in range(count):
            pos = _value_end(buf, pos, itype)
        return pos
    raise ValueError(f"unknown GGUF value type {vtype}")


def prompt_provenance(path: str | Path) -> dict[str, str | None]:
    """``{"chat_template_sha256", "tokenizer_sha256"}`` of a GGUF file (None where it has no such entry)."""
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as buf:
        magic, version, _, n_kv = struct.unpack_from("<4sIQQ", buf, 0)
        if magic != b"GGUF" or version < 2:
            raise ValueError(f"{Path(path).name} is not a GGUF file of version 2 or later")
        pos, template, tokenizer, seen = 24, None, hashlib.sha256(), False
        for _ in range(n_kv):
            start = pos
            (klen,) = struct.unpack_from("<Q", buf, pos)
            key = bytes(buf[pos + 8:pos + 8 + klen]).decode("utf-8")
            (vtype,) = struct.unpack_from("<I", buf, pos + 8 + klen)
            vstart = pos + 12 + klen
            pos = _value_end(buf, vstart, vtype)
            if key == "tokenizer.chat_template" and vtype == STRING:
                template = hashlib.sha256(bytes(buf[vstart + 8:pos])).hexdigest()[:16]
            elif key.startswith("tokenizer."):
                tokenizer.update(buf[start:pos])
                seen = True
    return {"chat_template_sha256": template, "tokenizer_sha256": tokenizer.hexdigest()[:16] if seen else None}
