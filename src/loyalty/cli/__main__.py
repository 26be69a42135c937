from loyalty.cli.main import main

main()
