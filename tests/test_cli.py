"""The ``liftinv`` console command: --version, --help, info, errors, ``python -m liftinv``."""

from __future__ import annotations

import subprocess
import sys

import pytest

import liftinv
from liftinv import cli


def test_version_string():
    assert liftinv.__version__ == "0.1.0"


def test_version_flag(capsys):
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "liftinv 0.1.0"


def test_help_lists_subcommands(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "usage: liftinv" in out
    for name in cli.COMMANDS:
        assert name in out


def test_info(capsys):
    import deepinv
    import torch

    assert cli.main(["info"]) == 0
    out = capsys.readouterr().out
    assert "liftinv 0.1.0" in out
    assert f"torch {torch.__version__}" in out
    assert f"deepinv {deepinv.__version__}" in out
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert f"device {expected}" in out
    assert f"threads {torch.get_num_threads()}" in out


@pytest.mark.parametrize("argv", [["no-such-command"], ["--no-such-flag"], ["info", "extra"]])
def test_bad_arguments_exit_2_on_stderr(argv, capsys):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "error" in captured.err


def test_no_subcommand_prints_help_and_exits_2(capsys):
    assert cli.main([]) == 2
    assert "usage: liftinv" in capsys.readouterr().err


def test_register_rejects_duplicate_names():
    with pytest.raises(ValueError, match="info"):
        cli.register(cli.Command("info", "again", lambda p: None, lambda a: 0))


def test_python_dash_m():
    proc = subprocess.run(
        [sys.executable, "-m", "liftinv", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "liftinv 0.1.0"


def test_python_dash_m_bad_argument():
    proc = subprocess.run(
        [sys.executable, "-m", "liftinv", "--bogus"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "unrecognized arguments" in proc.stderr


DEMOS = ("denoising", "deblurring", "inversion", "lifted_training", "pnp_deblur_pretrained",
         "where_lifting_wins")


def _parsers(parser):
    """``parser`` and every subparser under it, recursively."""
    import argparse

    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_option_of_the_cli_the_benchmarks_and_the_demos_has_a_help_string(load_script):
    import argparse

    parsers = [*_parsers(cli.build_parser()), *(load_script(f"demos/{name}.py").build_parser() for name in DEMOS)]
    missing = {f"{p.prog} {action.option_strings[-1] if action.option_strings else action.dest}"
               for p in parsers for action in p._actions
               if not action.help and not isinstance(action, argparse._SubParsersAction)}  # its commands have one
    assert any(p.prog == "liftinv bench scale" for p in parsers)  # the bench tasks were walked
    assert not missing, sorted(missing)


def test_denoise_says_it_uses_the_shipped_weights_without_a_checkpoint(capsys):
    assert cli.main(["--help"]) == 0
    assert "shipped pretrained" in " ".join(capsys.readouterr().out.split())
    assert "--checkpoint" in cli.COMMANDS["denoise"].help
