"""Project settings. https://docs.kedro.org/en/stable/kedro_project_setup/settings.html"""

from kedro.config import OmegaConfigLoader

from ovmlr.hooks import ConfigurationChecks

# kedro-mlflow registers its hooks through its entry point.
HOOKS = (ConfigurationChecks(),)

CONFIG_LOADER_CLASS = OmegaConfigLoader
CONFIG_LOADER_ARGS = {
    "base_env": "base",
    "default_run_env": "local",
    # Dataset environments (conf/fashion_mnist, conf/nus_wide, conf/open_images) hold only their differences
    # from conf/base: parameters merge key by key (soft), so an environment file names only what it changes;
    # catalog entries and globals are replaced whole. `kedro run --env nus_wide --pipeline=train`.
    "merge_strategy": {"parameters": "soft"},
}
