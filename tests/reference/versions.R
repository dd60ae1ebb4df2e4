# Print the R and package versions the reference JSON files were made with.
cat(R.version.string, "\n", sep = "")
for (p in c("lme4", "Matrix", "lmerTest", "pbkrtest", "jsonlite", "nloptr"))
  cat(p, " ", packageDescription(p)$Version, "\n", sep = "")
cat("BLAS: ", extSoftVersion()[["BLAS"]], "\n", sep = "")
cat("LAPACK: ", La_library(), "\n", sep = "")
