"""The documentation: a README that is a front page, MkDocs pages that build strictly, and the
copies of generated text (the DVC DAG) that a test holds to their source."""

import re
import subprocess
import sys

import yaml

from tests.conftest import REPO


def test_the_readme_is_a_front_page_linking_every_docs_page():
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    pages = {p.name for p in (REPO / "docs").glob("*.md")} - {"index.md"}
    linked = set(re.findall(r"\(docs/([\w-]+\.md)\)", readme))
    assert pages == linked, f"README links {sorted(linked)}, docs/ has {sorted(pages)}"


def test_every_docs_page_is_in_the_mkdocs_nav():
    config = yaml.load((REPO / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)

    def files(entries):
        for entry in entries:
            for value in entry.values():
                yield from files(value) if isinstance(value, list) else [value]

    assert set(files(config["nav"])) == {p.name for p in (REPO / "docs").glob("*.md")}


def test_the_docs_build_strictly(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "evaluate" / "index.html").exists()


def test_the_architecture_page_shows_the_dag_dvc_prints():
    dag = subprocess.run(
        [sys.executable, "-m", "dvc", "dag", "--mermaid"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    page = (REPO / "docs" / "architecture.md").read_text()
    assert f"```mermaid\n{dag}\n```" in page
