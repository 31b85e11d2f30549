from sqlalchemy import select

from infra.extensions import db
from models.enrollments import Enrollment
from models.study import ChapterProgress
from services.demo import media
from services.study.overview import media_root
from tests import factories


def test_without_demo_chapters_the_media_seeder_does_nothing(app):
    assert media.seed() == []


def test_demo_media_is_generated_once_and_zhang_wei_has_progress(app):
    plan = factories.plan(required_hours=6)
    course = factories.course(plan, hours=3, chapters=2, chapter_seconds=3)
    factories.course(plan, title="第二门课", hours=3, chapters=1, chapter_seconds=3, sort_order=1)
    for chapter in course.chapters:
        chapter.media_url = "demo/chapter-3s.webm"
    zhang = factories.learner(name="张伟", id_number=media.DEMO_LEARNER_ID_NUMBER)
    factories.enrollment(zhang, plan)
    db.session.flush()

    notes = media.seed()
    target = media_root() / "demo" / "chapter-3s.webm"
    assert target.read_bytes()[:4] == b"\x1a\x45\xdf\xa3"  # a Matroska/WebM file
    assert any("demo/chapter-3s.webm" in note for note in notes)
    finished = db.session.scalars(
        select(ChapterProgress).where(ChapterProgress.learner_id == zhang.id)
    ).all()
    assert len(finished) == 2 and all(p.finished_at for p in finished)
    enrollment = db.session.scalar(select(Enrollment).where(Enrollment.learner_id == zhang.id))
    assert enrollment.earned_hours == 3
    assert enrollment.completed_at is None

    # Safe to repeat: nothing generated or added again.
    modified = target.stat().st_mtime_ns
    assert media.seed() == []
    assert target.stat().st_mtime_ns == modified
