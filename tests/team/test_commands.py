"""`medimg team up` tells every machine an address it can reach."""

import socket

from medimg.team.commands import reachable


def test_a_wildcard_listen_address_is_shown_as_the_machines_name():
    name = socket.getfqdn()
    assert reachable("http://0.0.0.0:4200/api", "0.0.0.0") == f"http://{name}:4200/api"
    assert reachable("http://10.0.0.5:5000", "10.0.0.5") == "http://10.0.0.5:5000"
