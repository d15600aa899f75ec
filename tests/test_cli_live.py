"""A follower's live stream outlasts the API being away for about a minute (an API restart
took 11-12 s in the chaos suite, more than a request's 12 s of retries), then fails
naming the command that picks up."""

from __future__ import annotations

import pytest

from cli.client import ApiClient
from cli.config import CliSettings
from cli.live import RECONNECT_DELAYS, execution_messages
from rgrid_common.errors import ApiUnreachable
from tests.helpers import free_port


def test_a_lost_stream_is_tried_again_for_about_a_minute_then_is_an_error(capsys):
    waited: list[float] = []
    client = ApiClient(CliSettings(api_url=f"http://127.0.0.1:{free_port()}", api_key="k"),
                       sleep=waited.append)

    with pytest.raises(ApiUnreachable, match="could not get it back"):
        list(execution_messages(client, "ex_1"))

    assert waited == list(RECONNECT_DELAYS) and sum(waited) >= 60
    assert f"Retrying... (attempt {len(RECONNECT_DELAYS) + 1}/{len(RECONNECT_DELAYS) + 1})" \
        in capsys.readouterr().err.replace("\n", "")
