"""``--help`` that states a default once, and only where there is one to state."""
import argparse


class DefaultsHelpFormatter(argparse.HelpFormatter):
    """argparse's ``ArgumentDefaultsHelpFormatter`` without its noise: ``(default: X)`` is added only to an option
    that is not required, whose default is a value (not ``None`` or a flag's ``False``) and whose help does not
    already say what its default is (``(default: read from the checkpoint)`` stays as written, once)."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ''
        if (action.required or action.default is None or action.default is False
                or action.default == argparse.SUPPRESS or 'default' in text or not action.option_strings):
            return text
        return f'{text} (default: %(default)s)'
