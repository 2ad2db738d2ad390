"""Porch's launcher shim for WSGI, ASGI and Gradio content.

Porch runs this file with the content's own interpreter as `python -c <this source> <kind> ...`
(it is embedded in the engine, so nothing is written to disk or installed). It finds the
application object the way Posit Connect does, then serves it on a loopback port:

- `wsgi`   (python-api, python-dash): waitress;
- `asgi`   (python-fastapi, python-shiny): uvicorn with `root_path` set to the mount path;
- `gradio` (python-gradio): the module's Blocks mounted on a FastAPI app, under uvicorn.

Entry points are `module` or `module:object` (the object may be dotted). With only a module,
the names `app`, `application`, `create_app`, `make_app` are tried in that order. Factories
(`create_app`, `make_app`, or any plain function with no required positional parameter; a
WSGI app takes 2 and an ASGI app 3) are called. A Dash object is unwrapped to `.server`.

Only the standard library is imported until the server starts, so resolution errors are
reported in plain words on stderr and the process exits with status 2.
"""

import argparse
import importlib
import inspect
import os
import sys

FALLBACK_NAMES = ("app", "application", "create_app", "make_app")
FACTORY_NAMES = ("create_app", "make_app")
GRADIO_NAMES = ("demo", "app", "interface", "iface")
TRUSTED_PROXY = "127.0.0.1"


class EntryPointError(Exception):
    """The entry point names nothing Porch can serve."""


def import_entry_module(module_name, app_dir):
    """Imports the content's module with the bundle directory first on sys.path."""
    if app_dir not in sys.path:
        sys.path.insert(0, app_dir)
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as err:
        # Only a missing entry module is ours to explain; a missing dependency inside the
        # content's code keeps its own traceback.
        if err.name and (module_name == err.name or module_name.startswith(err.name + ".")):
            raise EntryPointError(f"cannot import module {module_name!r} from {app_dir}: {err}") from err
        raise


def lookup(obj, dotted):
    """Follows a dotted attribute path."""
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def is_factory(name, obj):
    """Whether `obj` must be called to get the application."""
    if name.rsplit(".", 1)[-1] in FACTORY_NAMES:
        return callable(obj)
    if inspect.isfunction(obj) and not inspect.iscoroutinefunction(obj):
        params = inspect.signature(obj).parameters.values()
        required = [
            p for p in params
            if p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
        ]
        return not required
    return False


def is_dash(obj):
    """A Dash object, recognised without importing Dash."""
    return type(obj).__module__.split(".")[0] == "dash" and hasattr(obj, "server")


def resolve(entrypoint, app_dir, kind):
    """Returns the application object named by `entrypoint`."""
    module_name, _, object_name = entrypoint.partition(":")
    module = import_entry_module(module_name, app_dir)
    for name in [object_name] if object_name else FALLBACK_NAMES:
        try:
            obj = lookup(module, name)
        except AttributeError:
            if object_name:
                raise EntryPointError(f"module {module_name!r} has no attribute {name!r}") from None
            continue
        if is_factory(name, obj):
            obj = obj()
        if kind == "wsgi" and is_dash(obj):
            obj = obj.server
        return obj
    raise EntryPointError(f"module {module_name!r} defines none of {', '.join(FALLBACK_NAMES)}")


def resolve_gradio(entrypoint, app_dir):
    """Imports a Gradio script without letting it launch, and returns its Blocks."""
    import gradio

    def no_launch(self, *args, **kwargs):
        # Porch serves the Blocks itself; a module-level launch() must not bind a port.
        return None, None, None

    original = gradio.Blocks.launch
    gradio.Blocks.launch = no_launch
    try:
        module_name, _, object_name = entrypoint.partition(":")
        module = import_entry_module(module_name, app_dir)
    finally:
        gradio.Blocks.launch = original

    if object_name:
        try:
            found = lookup(module, object_name)
        except AttributeError:
            raise EntryPointError(f"module {module_name!r} has no attribute {object_name!r}") from None
        if is_factory(object_name, found):
            found = found()
        if not isinstance(found, gradio.Blocks):
            raise EntryPointError(f"{entrypoint!r} is a {type(found).__name__}, not a Gradio Blocks")
        return found
    for name in GRADIO_NAMES:
        found = getattr(module, name, None)
        if isinstance(found, gradio.Blocks):
            return found
    for found in vars(module).values():
        if isinstance(found, gradio.Blocks):
            return found
    raise EntryPointError(f"module {module_name!r} defines no Gradio Blocks (looked for {', '.join(GRADIO_NAMES)})")


def serve_wsgi(app, args):
    import waitress

    options = {
        "host": args.host,
        "port": args.port,
        "threads": 8,
        "trusted_proxy": TRUSTED_PROXY,
        "trusted_proxy_headers": "x-forwarded-for x-forwarded-host x-forwarded-proto x-forwarded-port",
        "clear_untrusted_proxy_headers": True,
    }
    # Dash learns its prefix from DASH_* variables; SCRIPT_NAME on top would be ignored
    # by its asset URLs, so it is left alone there.
    if args.prefix and not args.dash:
        options["url_prefix"] = args.prefix
    waitress.serve(app, **options)


def serve_asgi(app, args):
    import uvicorn

    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        root_path=args.prefix,
        proxy_headers=True,
        forwarded_allow_ips=TRUSTED_PROXY,
    )


def main(argv):
    parser = argparse.ArgumentParser(prog="porch_launch")
    parser.add_argument("kind", choices=("wsgi", "asgi", "gradio"))
    parser.add_argument("--entrypoint", required=True)
    parser.add_argument("--app-dir", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", default="")
    parser.add_argument("--dash", action="store_true")
    args = parser.parse_args(argv)
    app_dir = os.path.abspath(args.app_dir)
    try:
        if args.kind == "gradio":
            from fastapi import FastAPI
            import gradio

            blocks = resolve_gradio(args.entrypoint, app_dir)
            app = gradio.mount_gradio_app(FastAPI(), blocks, path="/")
        else:
            app = resolve(args.entrypoint, app_dir, args.kind)
    except EntryPointError as err:
        print(f"porch_launch: error: {err}", file=sys.stderr)
        return 2
    if args.kind == "wsgi":
        serve_wsgi(app, args)
    else:
        serve_asgi(app, args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
