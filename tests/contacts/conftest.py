import pytest


@pytest.fixture(autouse=True)
def _media_in_tmp(settings, tmp_path):
    """Uploaded imports and error files go to a per-test folder."""
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _upload_spools_in_tmp(settings, tmp_path):
    """Sealed upload spools (accounts.uploads) go to a per-test folder too."""
    settings.FILE_UPLOAD_TEMP_DIR = str(tmp_path / "uploads")
