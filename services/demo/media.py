"""Demo chapter media and demo study progress.

Demo chapters play ``demo/chapter-<seconds>s.webm`` from the media root. The files are
generated here, locally, with the ffmpeg binary that ``imageio-ffmpeg`` carries: a test
pattern and a tone, VP9 and Opus in WebM (what Chromium and WeChat's browser play), at a
small size. Runs after the catalogue seeder; without demo chapters it does nothing.
"""

from __future__ import annotations

import logging
import re
import subprocess
from datetime import date

from sqlalchemy import select

from infra.extensions import db
from models.accounts import Learner
from models.catalog import Chapter, Course
from models.enrollments import Enrollment, EnrollmentStatus
from models.study import ChapterProgress
from services.demo.org_and_people import demo_id_number
from services.study import rules as study
from services.study.ledger import ProgressState
from services.study.overview import media_root

log = logging.getLogger(__name__)

DEMO_MEDIA = re.compile(r"^demo/chapter-(\d{1,5})s\.webm$")
# 张伟, whose study is under way (the first course of each plan he holds), and 阿依古丽·买买提,
# who has finished every course of hers (so her certificate can be printed).
DEMO_LEARNER_ID_NUMBER = demo_id_number("500103", date(1985, 3, 12), "101")
FINISHED_LEARNER_ID_NUMBER = demo_id_number("500105", date(1988, 11, 23), "302")


def seed() -> list[str]:
    notes = generate_missing_media()
    notes.extend(_demo_progress(DEMO_LEARNER_ID_NUMBER, first_course_only=True))
    notes.extend(_demo_progress(FINISHED_LEARNER_ID_NUMBER, first_course_only=False))
    return notes


def generate_missing_media() -> list[str]:
    paths = set(
        db.session.scalars(select(Chapter.media_url).where(Chapter.media_url.like("demo/%")))
    )
    missing = [
        (path, int(match.group(1)))
        for path in sorted(paths)
        if (match := DEMO_MEDIA.match(path)) and not (media_root() / path).exists()
    ]
    if not missing:
        return []
    import imageio_ffmpeg

    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    made = []
    for path, seconds in missing:
        target = media_root() / path
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_suffix(".part.webm")
        command = [
            ffmpeg, "-hide_banner", "-loglevel", "error", "-y",
            "-f", "lavfi", "-i", f"testsrc=size=320x180:rate=12:duration={seconds}",
            "-f", "lavfi", "-i", f"sine=frequency=440:beep_factor=4:duration={seconds}",
            "-c:v", "libvpx-vp9", "-b:v", "60k", "-deadline", "realtime", "-cpu-used", "8",
            "-c:a", "libopus", "-b:a", "24k", "-shortest", str(partial),
        ]  # fmt: skip
        try:
            subprocess.run(command, check=True, capture_output=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as error:
            log.warning("could not generate demo media %s: %s", path, error)
            continue
        partial.replace(target)
        made.append(path)
    return [f"demo media generated under {media_root()}: {', '.join(made)}"] if made else []


def _demo_progress(id_number: str, *, first_course_only: bool) -> list[str]:
    """Finished chapters of the plans the learner holds (once; safe to repeat)."""
    learner = db.session.scalar(select(Learner).where(Learner.id_number == id_number))
    if learner is None:
        return []
    plan_ids = list(
        db.session.scalars(
            select(Enrollment.plan_id).where(
                Enrollment.learner_id == learner.id, Enrollment.status == EnrollmentStatus.ACTIVE
            )
        )
    )
    if not plan_ids:
        return []
    if db.session.scalar(
        select(ChapterProgress.id).where(ChapterProgress.learner_id == learner.id)
    ):
        return []
    states = []
    for plan_id in plan_ids:
        courses = list(
            db.session.scalars(
                select(Course)
                .where(Course.plan_id == plan_id)
                .order_by(Course.sort_order, Course.id)
            )
        )
        for chapter in (
            chapter
            for course in courses[: 1 if first_course_only else None]
            for chapter in course.chapters
        ):
            states.append(
                ProgressState(
                    learner_id=learner.id,
                    chapter_id=chapter.id,
                    intervals=f"0-{chapter.duration_seconds}",
                    covered=chapter.duration_seconds,
                    credited=chapter.duration_seconds,
                    position=chapter.duration_seconds,
                    finished_ms=study.now_ms(),
                )
            )
    study.persist_progress(states)
    return [f"demo study: {learner.name} has finished {len(states)} chapters"] if states else []
