# Stopping and resuming (cli_signals.sh): a signal at a safe point, exit 75, the same command again
# == an uninterrupted run; run locks; the --log-json event log
foreach(part fusegpt-USR1 fusegpt-TERM greedy methods kill)
  df_test(cli_signals_${part} 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_signals.sh ${part} ${MPIEXEC_EXECUTABLE}
          ${MPIEXEC_PREFLAGS})
endforeach()
