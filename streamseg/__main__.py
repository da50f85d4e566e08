from streamseg.cli import main

main()
