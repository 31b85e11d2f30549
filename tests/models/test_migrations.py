from alembic.script import ScriptDirectory
from flask_migrate import Migrate


def test_migrations_have_a_single_head(app):
    config = app.extensions["migrate"].migrate.get_config()
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def test_models_match_the_migrations(app, runner):
    # The schema was built by the migrations; autogenerate must find nothing to add.
    result = runner.invoke(args=["db", "check"])
    assert result.exit_code == 0, result.output


def test_reference_districts_are_loaded(app):
    from sqlalchemy import func, select

    from infra.extensions import db
    from models.org import District, DistrictKind

    counts = dict(
        db.session.execute(select(District.kind, func.count()).group_by(District.kind)).all()
    )
    assert counts == {DistrictKind.DISTRICT: 26, DistrictKind.COUNTY: 12, DistrictKind.ZONE: 3}
    assert Migrate  # imported for the fixture's extension
