"""Channel-ready exports of a built packet (SPEC section 11): a fax TIFF and a Da Vinci PAS Bundle.

* :mod:`.fax`: :func:`~.fax.fax_tiff`, the packet's pages as one multi-page TIFF, CCITT Group 4,
  204x196 dpi fine mode, 1728 pixels wide, as fax servers take it.
* :mod:`.pas`: :func:`~.pas.pas_bundle`, an HL7 Da Vinci PAS request Bundle (FHIR R4) carrying
  the packet PDF, holding only the fields the packet itself discloses.
* :func:`export_file_name`: the export's name beside the packet.
"""

from __future__ import annotations

FORMATS = {"fax-tiff": ".tif", "pas": ".pas.json"}


def export_file_name(packet_name: str, fmt: str) -> str:
    """``RETRO-AUTH_…_2026-09-14.pdf`` -> ``RETRO-AUTH_…_2026-09-14.tif`` (or ``.pas.json``)."""
    return packet_name.removesuffix(".pdf") + FORMATS[fmt]





def export_packet(packet, case, policy, fmt: str, *, created) -> dict[str, bytes]:
    """The export files of a built :class:`~packetizer.pipeline.Packet`, by file name (nothing written).

    ``fax-tiff``: one TIFF per packet file (``<packet name>.tif``, or ``<part name>.tif`` for each part).
    ``pas``: one Bundle, ``<packet name>.pas.json``, carrying every packet file.
    """
    from ..pipeline import packet_file_name

    files = [(path.name, path.read_bytes()) for path in packet.paths]
    if fmt == "fax-tiff":
        from .fax import fax_tiff

        return {export_file_name(name, fmt): fax_tiff(pdf) for name, pdf in files}
    if fmt == "pas":
        from ..disclosure import plan_disclosure
        from .pas import bundle_bytes, pas_bundle

        bundle = pas_bundle(plan_disclosure(case, policy), policy, files=files, created=created)
        return {export_file_name(packet_file_name(case), fmt): bundle_bytes(bundle)}
    raise ValueError(f"unknown export format {fmt!r}")
__all__ = ["FORMATS", "export_file_name", "export_packet"]
