from aigif.cli.main import main

main()
