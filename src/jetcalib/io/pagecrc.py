"""Whether a Parquet file's pages carry a CRC32 (the checksum jetcalib's TableWriter writes).

pyarrow verifies a page's CRC when one is present but cannot say whether one is: a table read
and written again by any other tool (``pyarrow.parquet.write_table``, pandas, Spark) keeps
the key-value metadata, hence jetcalib's provenance, and loses the checksums. The CRC is
field 4 of the Thrift ``PageHeader`` (compact protocol) that starts every page, after three
required i32 fields, so the first bytes of each column chunk's first page answer it.
"""

from __future__ import annotations

from typing import Any, BinaryIO

__all__ = ["pages_without_crc"]

_I32 = 5  # compact-protocol type id of an i32 field
_CRC_FIELD = 4
#: A PageHeader's first four fields take at most 1 + 5 bytes each.
_HEADER_BYTES = 32


def _varint(buf: bytes, pos: int) -> int:
    shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated page header")
        byte = buf[pos]
        pos += 1
        if not byte & 0x80:
            return pos
        shift += 7
        if shift > 35:
            raise ValueError("malformed page header")


def _has_crc(header: bytes) -> bool:
    """Whether a compact-protocol PageHeader sets field 4 (crc)."""
    pos, field = 0, 0
    while pos < len(header):
        byte = header[pos]
        pos += 1
        if byte == 0:  # end of struct: no crc
            return False
        delta, kind = byte >> 4, byte & 0x0F
        if delta == 0:
            raise ValueError("malformed page header")  # long-form field ids are not in PageHeader
        field += delta
        if field >= _CRC_FIELD:
            return field == _CRC_FIELD and kind == _I32
        if kind != _I32:
            raise ValueError("malformed page header")
        pos = _varint(header, pos)
    raise ValueError("truncated page header")


def pages_without_crc(fh: BinaryIO, metadata: Any) -> int:
    """How many column chunks of a Parquet file (``metadata``: pyarrow's ``FileMetaData``)
    start with a page that carries no CRC. ValueError for an unreadable page header."""
    missing = 0
    for i in range(metadata.num_row_groups):
        group = metadata.row_group(i)
        for j in range(group.num_columns):
            col = group.column(j)
            if group.num_rows == 0 and col.total_compressed_size == 0:
                continue  # an empty table's column without a dictionary has no page at all
            offset = (col.dictionary_page_offset if col.has_dictionary_page and col.dictionary_page_offset
                      else col.data_page_offset)
            fh.seek(offset)
            if not _has_crc(fh.read(_HEADER_BYTES)):
                missing += 1
    return missing
