"""Every data option's datamodule derives from the shared base, so it follows the datamodule contract."""

from pathlib import Path

import pytest
from hydra.utils import get_class

from recon.cli.main import CONFIG_DIR
from recon.data.base import DataModuleContract, ReconDataModule
from recon.data.single_view import SingleViewDataModule


@pytest.mark.parametrize("name", sorted(p.stem for p in (Path(CONFIG_DIR) / "data").glob("*.yaml")))
def test_data_options_derive_from_the_base(make_config, name):
    assert issubclass(get_class(make_config([f"data={name}"]).data._target_), ReconDataModule)


def test_a_datamodule_follows_the_contract_before_setup(tmp_path):
    dm = SingleViewDataModule(cache_dir=str(tmp_path))
    assert isinstance(dm, DataModuleContract) and dm.datasets == {}
    assert not any(tmp_path.iterdir())
