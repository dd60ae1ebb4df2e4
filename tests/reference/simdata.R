# Simulate the small data sets that lme4 lacks (Gamma, inverse Gaussian, binomial
# with a random slope) and write them as CSV to tests/data. The GLMM reference fits
# (glmm_models.R) read these CSV files back, so R and Python see the same numbers:
# every double is written with the fewest significant digits (15, 16 or 17) that read
# back to exactly the same double.
#
# usage (from tests/reference): Rscript simdata.R ../data
args <- commandArgs(TRUE)
out_dir <- if (length(args)) args[1] else "../data"
dir.create(out_dir, showWarnings = FALSE, recursive = TRUE)

exact_chr <- function(v) {
  s <- sprintf("%.15g", v)
  for (dg in 16:17) {
    bad <- as.numeric(s) != v
    s[bad] <- sprintf(paste0("%.", dg, "g"), v[bad])
  }
  stopifnot(all(as.numeric(s) == v))
  s
}

write_exact <- function(d, name) {
  is_chr <- vapply(d, is.character, logical(1))
  for (col in names(d)[vapply(d, is.double, logical(1))])
    d[[col]] <- exact_chr(d[[col]])
  write.csv(d, file.path(out_dir, paste0(name, ".csv")), row.names = FALSE,
            quote = which(is_chr))
}

groups <- function(n_grp, n_per) sprintf("g%02d", rep(seq_len(n_grp), each = n_per))

# Inverse Gaussian draws (Michael, Schucany & Haas 1976)
rinvgauss <- function(n, mu, lambda) {
  v <- rnorm(n)^2
  x <- mu + mu^2 * v / (2 * lambda) - mu / (2 * lambda) * sqrt(4 * mu * lambda * v + mu^2 * v^2)
  ifelse(runif(n) <= mu / (mu + x), x, mu^2 / x)
}

# Gamma: 20 groups x 15, log link, shape 4
set.seed(20240101)
n_grp <- 20; n_per <- 15
grp <- groups(n_grp, n_per)
x <- round(runif(n_grp * n_per, -1, 1), 3)
trt <- rep(c("a", "b"), length.out = n_grp * n_per)
b <- rnorm(n_grp, 0, 0.4)[match(grp, unique(grp))]
mu <- exp(1 + 0.5 * x + 0.3 * (trt == "b") + b)
y <- rgamma(n_grp * n_per, shape = 4, rate = 4 / mu)
write_exact(data.frame(y = y, x = x, trt = trt, grp = grp, stringsAsFactors = FALSE), "gamma_sim")

# Inverse Gaussian: 20 groups x 15, log link, lambda 8
set.seed(20240102)
grp <- groups(n_grp, n_per)
x <- round(runif(n_grp * n_per, -1, 1), 3)
b <- rnorm(n_grp, 0, 0.3)[match(grp, unique(grp))]
mu <- exp(0.5 + 0.4 * x + b)
y <- rinvgauss(n_grp * n_per, mu, 8)
write_exact(data.frame(y = y, x = x, grp = grp, stringsAsFactors = FALSE), "invgauss_sim")

# Binary response with a correlated random intercept and slope: 30 groups x 20
set.seed(20240103)
n_grp <- 30; n_per <- 20
grp <- groups(n_grp, n_per)
x <- round(rnorm(n_grp * n_per), 3)
sd0 <- 0.8; sd1 <- 0.5; rho <- 0.3
z0 <- rnorm(n_grp); z1 <- rnorm(n_grp)
b0 <- sd0 * z0
b1 <- sd1 * (rho * z0 + sqrt(1 - rho^2) * z1)
gi <- match(grp, unique(grp))
eta <- -0.5 + 1.0 * x + b0[gi] + b1[gi] * x
y <- rbinom(n_grp * n_per, 1, plogis(eta))
write_exact(data.frame(y = y, x = x, grp = grp, stringsAsFactors = FALSE), "binom_slopes_sim")

# ---- data for the links of glmm_links.R (each block sets its own seed, so the data
# sets above do not change) ----

# Poisson with the identity link: counts around 20 (mu = 20 + 6 x + b, b ~ N(0, 3^2)),
# far enough from 0 that PIRLS keeps mu > 0 (lme4 stops with "PIRLS loop resulted in
# NaN value" on cbpp and grouseticks): 20 groups x 15
set.seed(20240104)
n_grp <- 20; n_per <- 15; n <- n_grp * n_per
grp <- groups(n_grp, n_per)
gi <- match(grp, unique(grp))
x <- round(runif(n, -1, 1), 3)
b <- rnorm(n_grp, 0, 3)[gi]
y <- rpois(n, 20 + 6 * x + b)
write_exact(data.frame(y = y, x = x, grp = grp, stringsAsFactors = FALSE), "poisson_identity_sim")

# Inverse Gaussian with its canonical link 1/mu^2: eta = 0.5 + 0.15 x + b,
# b ~ N(0, 0.08^2), so eta stays in [0.23, 0.77] (mu = eta^-1/2); lambda 8
set.seed(20240105)
x <- round(runif(n, -1, 1), 3)
b <- rnorm(n_grp, 0, 0.08)[gi]
y <- rinvgauss(n, 1 / sqrt(0.5 + 0.15 * x + b), 8)
write_exact(data.frame(y = y, x = x, grp = grp, stringsAsFactors = FALSE), "invgauss_canonical_sim")

# Gaussian response with a log-linear mean (for gaussian(link = "log") and "inverse"):
# y = exp(1.5 + 0.5 x + b) + N(0, 0.5^2), b ~ N(0, 0.3^2)
set.seed(20240106)
x <- round(runif(n, -1, 1), 3)
b <- rnorm(n_grp, 0, 0.3)[gi]
y <- exp(1.5 + 0.5 * x + b) + rnorm(n, 0, 0.5)
write_exact(data.frame(y = y, x = x, grp = grp, stringsAsFactors = FALSE), "gaussian_log_sim")
