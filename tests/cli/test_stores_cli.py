"""`loyalty stores import|list`: a CSV of store_id,city,name, all or nothing with every bad line reported."""

from __future__ import annotations

from pathlib import Path

from loyalty.storage.database import UnitOfWork, make_engine
from loyalty.stores import service as stores
from tests.cli.test_cli import loyalty


def test_import_lists_every_bad_line_and_stores_nothing(database_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("store_id,city,name\nmsk-01,Moscow,Tverskaya\nmsk-02,,Arbat\nmsk-01,Moscow,again\nonly-one\n")
    code, output = loyalty("stores", "import", str(bad), database=database_url)
    assert code == 2, output
    assert "line 3: city" in output
    assert "line 4: store_id" in output and "already on line 2" in output
    assert "line 5" in output
    engine = make_engine(database_url)
    with UnitOfWork(engine, read_only=True) as uow:
        assert stores.list_stores(uow) == []

    good = tmp_path / "stores.csv"
    good.write_text("store_id,city,name\nmsk-01,Moscow,Tverskaya\nmsk-02,Moscow,Arbat\nspb-01,Saint Petersburg,\n")
    code, output = loyalty("stores", "import", str(good), database=database_url)
    assert code == 0, output
    assert "Imported 3 stores: 3 new" in output
    code, output = loyalty("stores", "import", str(good), database=database_url)
    assert "0 new, 3 already known" in output
    with UnitOfWork(engine, read_only=True) as uow:
        assert stores.cities(uow) == {"Moscow": ["msk-01", "msk-02"], "Saint Petersburg": ["spb-01"]}
    code, output = loyalty("stores", "list", database=database_url)
    assert code == 0
    assert "Saint Petersburg" in output and "3 stores" in output
    engine.dispose()
