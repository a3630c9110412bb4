# The terminal and the run report: progress under a pty and in logs, messages, the HTML page
# (rendered in headless Chromium when tools/test.sh has installed it; skipped otherwise).
df_test(cli_progress 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_progress.sh ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
df_test(cli_report 0 sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_report.sh ${MPIEXEC_EXECUTABLE} ${MPIEXEC_PREFLAGS})
set_tests_properties(cli_progress cli_report PROPERTIES PROCESSORS 2)
set_tests_properties(cli_report PROPERTIES SKIP_RETURN_CODE 77)
