from loyalty.cli.main import app

app(prog_name="loyalty")
