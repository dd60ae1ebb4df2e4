"""Issue 16: pyproject.toml names the authors and the project's addresses (Homepage,
Documentation, Source, Issues, Changelog), and an installed pymer carries them.

The addresses are the intended public ones (github.com/pymer-dev/pymer, docs on its
GitHub Pages); the repository is not public yet."""
from package_meta import PROJECT, ROOT, installed_distribution

REPO = "https://github.com/pymer-dev/pymer"
URLS = {
    "Homepage": REPO,
    "Documentation": "https://pymer-dev.github.io/pymer",
    "Source": REPO,
    "Issues": f"{REPO}/issues",
    "Changelog": f"{REPO}/blob/main/CHANGELOG.md",
}


def test_pyproject_has_the_project_urls_and_authors():
    assert PROJECT["urls"] == URLS
    assert PROJECT["authors"] and all(a.get("name") for a in PROJECT["authors"])
    # the changelog the URL points at is the file in the repository
    assert (ROOT / "CHANGELOG.md").is_file()


def test_installed_metadata_has_the_project_urls():
    dist = installed_distribution()
    if dist is None:
        return
    urls = dict(u.split(", ", 1) for u in dist.metadata.get_all("Project-URL"))
    assert urls == URLS
