// Entry point: the app shell (header, routes, drop-anywhere) after the browser login gate.

import "./styles.css";
import { startApp } from "./app";

const root = document.getElementById("app");
if (!root) throw new Error("index.html must contain #app");
void startApp(root);
