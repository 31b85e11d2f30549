"""How long drawing one certificate takes, against saving a blank page of the same size, and
what signing its PDF adds.

    .venv/bin/python bench/certificate_render.py [count]

Each certificate is drawn as on its first view: the PNG (300 dpi, A4 landscape) and the PDF.
The baseline saves a blank canvas of the same size the same way, in the same run, so the
ratio says what the drawing itself costs on top of encoding the files. The signed run draws
the same certificates and signs each PDF (PAdES, visible signature over the seal, no
timestamp authority) with a development key generated in a temporary folder; its ratio to
the unsigned run is what signing costs.
"""

from __future__ import annotations

import io
import statistics
import sys
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import tempfile

from PIL import Image

from services.paperwork import certificate_render as render
from services.paperwork import signing
from services.paperwork.certificate_render import CertificateFace
from services.paperwork.certificates import sign_certificate_pdf


def face(index: int) -> CertificateFace:
    names = ["张伟", "王䶮", "阿依古丽·买买提", "欧阳㵘娜"]
    return CertificateFace(
        number=f"GX2022-7K3M-9QXD-R2TB-{index:04d}",
        holder_name=names[index % len(names)],
        holder_id_number="500103198503121015",
        unit_name="重庆市渝中区人民医院",
        plan_title="重庆市2022年专技人员继续教育公需科目培训",
        year=2022,
        hours=30,
        issued_on=date(2022, 11, 3),
        verify_url=f"https://gx.example.cn/verify/GX2022-7K3M-9QXD-R2TB-{index:04d}",
    )


def certificate(index: int) -> None:
    render.render_files(face(index))


def signed_certificate(material: signing.SigningMaterial):
    def job(index: int) -> None:
        certificate_face = face(index)
        _, pdf = render.render_files(certificate_face)
        sign_certificate_pdf(pdf, certificate_face.number, material=material)

    return job


def blank(index: int) -> None:
    canvas = Image.new("RGB", (render.WIDTH, render.HEIGHT), render.PAPER)
    canvas.save(io.BytesIO(), "PNG", dpi=(render.DPI, render.DPI), compress_level=3)
    canvas.save(io.BytesIO(), "PDF", resolution=render.DPI, quality=92)


def measure(job, count: int) -> list[float]:
    times = []
    for index in range(count):
        start = time.perf_counter()
        job(index)
        times.append((time.perf_counter() - start) * 1000)
    return times


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    start = time.perf_counter()
    certificate(0)  # the shared parts (frame, title, seal) are drawn once per process
    first = (time.perf_counter() - start) * 1000
    with tempfile.TemporaryDirectory(prefix="bench-signing-") as folder:
        material = signing.development_material(Path(folder))
    signed_job = signed_certificate(material)
    signed_job(0)  # loads pyHanko's code paths once
    base = measure(blank, count)
    drawn = measure(certificate, count)
    signed = measure(signed_job, count)
    base_ms, drawn_ms = statistics.median(base), statistics.median(drawn)
    signed_ms = statistics.median(signed)
    print(
        f"certificates: {count}, PNG + PDF each, {render.WIDTH}x{render.HEIGHT} px at {render.DPI} dpi"
    )
    print(f"first certificate of the process (draws the shared parts): {first:.0f} ms")
    print(f"baseline, blank page saved the same way: {base_ms:.0f} ms (median)")
    print(
        f"certificate: {drawn_ms:.0f} ms per certificate (median), p90 {sorted(drawn)[int(count * 0.9) - 1]:.0f} ms"
    )
    print(f"ratio certificate / blank page: {drawn_ms / base_ms:.2f}")
    print(
        f"signed certificate: {signed_ms:.0f} ms per certificate (median), "
        f"p90 {sorted(signed)[int(count * 0.9) - 1]:.0f} ms"
    )
    print(f"ratio signed / unsigned certificate: {signed_ms / drawn_ms:.2f}")


if __name__ == "__main__":
    main()
