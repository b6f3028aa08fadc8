// 二维码标签 in the duty room's bar: each button fetches an A4 sheet of QR labels
// (GET /api/v1/sites/{site}/labels.pdf?kind=&purpose=) with the page's token and saves it.
import { api, toast } from "/static/common.js";

const KIND_ZH = { asset: "设备", building: "楼栋", place: "公共区域" };
const PURPOSE_ZH = { report: "报修码", patrol: "巡更码" };

async function currentSite() {
  const wanted = new URLSearchParams(location.search).get("site");
  const sites = await api("/api/v1/sites");
  return sites.find((s) => s.id === wanted) || sites[0];
}

async function print(button) {
  const { kind, purpose } = button.dataset;
  button.disabled = true;
  try {
    const site = await currentSite();
    const blob = await api(
      `/api/v1/sites/${encodeURIComponent(site.id)}/labels.pdf?kind=${kind}&purpose=${purpose}`,
    );
    const link = document.createElement("a");
    link.href = URL.createObjectURL(blob);
    link.download = `${site.name}${KIND_ZH[kind]}${PURPOSE_ZH[purpose]}.pdf`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 60_000);
  } catch (err) {
    toast(`标签生成失败：${err.message}`, "error");
  } finally {
    button.disabled = false;
  }
}

for (const button of document.querySelectorAll("#labels-menu button[data-kind]")) {
  button.addEventListener("click", () => print(button));
}
