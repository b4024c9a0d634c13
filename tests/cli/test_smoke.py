from cxrgraph.cli import main


def test_smoke_command_builds_prints_and_draws(tmp_path, capsys):
    assert main(["smoke", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "networkx round trip exact: True" in out
    assert "lung opacity" in out and "left lower lung zone" in out
    assert (tmp_path / "smoke_graph.png").stat().st_size > 10_000


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "smoke" in capsys.readouterr().out
