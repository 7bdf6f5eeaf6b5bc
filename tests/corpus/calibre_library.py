"""Make the small Calibre library calibre-web serves: a metadata.db with one book.

calibre-web reads a library that Calibre (the desktop app) writes; it never creates one. Its
own SQLAlchemy models of Calibre's tables (cps/db.py) create the tables here, so the schema is
the one calibre-web reads. Run with the Python of calibre-web's virtualenv:

    python -m tests.corpus.calibre_library LIBRARY_FOLDER
"""

import sys
from datetime import UTC, datetime
from pathlib import Path

import calibreweb  # noqa: F401  (puts calibre-web's folder on sys.path, so `cps` imports)
from cps import db
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

# Fixed, so that the library's pages are the same wherever it is made.
LIBRARY_UUID = "5b2f6f1e-4c4d-4e7e-9a52-0c0ffee00001"
BOOK_UUID = "5b2f6f1e-4c4d-4e7e-9a52-0c0ffee00002"
ADDED = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    # calibre-web attaches the library as a schema named `calibre` (a few of its models name
    # it); in the library's own file, every table is in the main schema.
    engine = create_engine(f"sqlite:///{folder / 'metadata.db'}").execution_options(
        schema_translate_map={"calibre": None}
    )
    db.Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(db.Library_Id(uuid=LIBRARY_UUID))
        author = db.Authors("Ada Lovelace", "Lovelace, Ada")
        tag = db.Tags("Computing")
        book = db.Books(
            "Notes on the Analytical Engine",
            "Notes on the Analytical Engine",
            "Lovelace, Ada",
            ADDED,
            datetime(1843, 10, 1, tzinfo=UTC),
            "1.0",
            ADDED,
            "Ada Lovelace/Notes on the Analytical Engine (1)",
            None,
            [author],
            [tag],
        )
        book.uuid = BOOK_UUID
        book.authors = [author]
        book.tags = [tag]
        session.add(book)
        session.commit()


if __name__ == "__main__":
    make(Path(sys.argv[1]))
