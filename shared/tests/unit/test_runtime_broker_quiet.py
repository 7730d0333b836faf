"""The service's broker does not log FastStream's two lines for every consumed batch at INFO."""

import logging
from pathlib import Path

from sqlalchemy import MetaData

from helpline_shared.runtime.service import ServiceRuntime
from helpline_shared.runtime.settings import ServiceSettings


async def test_the_brokers_per_batch_messages_are_below_info(tmp_path: Path) -> None:
    runtime = ServiceRuntime(
        name="quiet-test", settings=ServiceSettings(data_dir=tmp_path), metadata=MetaData()
    )
    # The level of FastStream's "Received" and "Processed" around every batch (it was INFO,
    # the level services log at); a handler's error is logged at ERROR whatever this is.
    assert runtime.broker.config.logger.log_level == logging.DEBUG
    await runtime.engine.dispose()
